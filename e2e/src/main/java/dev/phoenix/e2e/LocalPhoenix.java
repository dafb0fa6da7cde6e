package dev.phoenix.e2e;

import dev.phoenix.api.v1alpha1.TrainingJob;
import dev.phoenix.api.v1alpha1.TrainingJobStatus;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Phoenix on this machine, in one command: a Kubernetes control plane with scheduler and controller
 * manager, kube-proxy and CoreDNS, the CRD, the operator (its own JVM), two real nodes (kubelet on
 * containerd) with GPUs advertised; then {@code kubectl apply -f examples/quickstart.yaml}, which
 * runs the trainer image in containers, a preemption of one worker after the first checkpoint made
 * by the cluster itself (kube-scheduler preempting it for a pod of higher priority, by default),
 * the automatic resume and the finished job.
 *
 * <pre>
 * LocalPhoenix [--keep] [--work-dir DIR] [--manifest FILE] [--reason REASON|Eviction|none] [--preempt-rank N] [--timeout-seconds S]
 * </pre>
 */
public final class LocalPhoenix {
    private LocalPhoenix() {}

    public static void main(String[] args) throws Exception {
        System.setProperty(
                "phoenix.console.level", System.getProperty("phoenix.console.level", "WARN"));
        Path workDir = Path.of(System.getProperty("java.io.tmpdir"), "phoenix-local");
        Path manifest = null;
        boolean keep = false;
        String reason = "PreemptionByScheduler";
        int preemptRank = 1;
        long timeoutSeconds = 600;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--keep" -> keep = true;
                case "--work-dir" -> workDir = Path.of(args[++i]).toAbsolutePath();
                case "--manifest" -> manifest = Path.of(args[++i]).toAbsolutePath();
                case "--reason" -> reason = args[++i];
                case "--preempt-rank" -> preemptRank = Integer.parseInt(args[++i]);
                case "--timeout-seconds" -> timeoutSeconds = Long.parseLong(args[++i]);
                case "-h", "--help" -> {
                    System.out.println(
                            "usage: LocalPhoenix [--keep] [--work-dir DIR] [--manifest FILE] "
                                    + "[--reason PreemptionByScheduler|EvictionByEvictionAPI|DeletionByTaintManager|none] "
                                    + "[--preempt-rank N] [--timeout-seconds S]");
                    return;
                }
                default ->
                        throw new IllegalArgumentException(
                                "unknown argument " + args[i] + " (try --help)");
            }
        }
        if (manifest == null) {
            manifest = Repo.root().resolve("examples/quickstart.yaml");
        }
        System.setProperty(
                "phoenix.log.file", workDir.resolve("logs/local-phoenix.log").toString());
        System.exit(run(workDir, manifest, keep, reason, preemptRank, timeoutSeconds));
    }

    static int run(
            Path workDir,
            Path manifest,
            boolean keep,
            String reason,
            int preemptRank,
            long timeoutSeconds)
            throws Exception {
        long t0 = System.nanoTime();
        prepareWorkDir(workDir);
        TrainingJob job;
        try (InputStream in = Files.newInputStream(manifest)) {
            job = Serialization.unmarshal(in, TrainingJob.class);
        }
        String ns =
                job.getMetadata().getNamespace() == null
                        ? "default"
                        : job.getMetadata().getNamespace();
        String name = job.getMetadata().getName();
        clearHostPaths(job);

        say(
                "starting Kubernetes "
                        + dev.phoenix.local.controlplane.KubernetesBinaries.VERSION
                        + " (etcd, kube-apiserver, kube-scheduler, kube-controller-manager, kube-proxy, CoreDNS) and two nodes "
                        + "(kubelet + containerd) in "
                        + workDir);
        PhoenixStack stack =
                PhoenixStack.builder()
                        .workDir(workDir)
                        .keepWorkDir(keep)
                        .nodes(2)
                        .gpusPerNode(4)
                        .start();
        Runtime.getRuntime().addShutdownHook(new Thread(stack::close, "local-phoenix-shutdown"));
        Files.writeString(
                workDir.resolve("env"),
                "export KUBECONFIG=" + stack.controlPlane().kubeconfigPath() + "\n");
        say(
                String.format(
                        Locale.ROOT,
                        "control plane, CRD, operator (pid %d) and nodes %s (4 x nvidia.com/gpu each) up in %.1f s",
                        stack.operator().pid(),
                        stack.nodes().stream()
                                .map(n -> n.name() + " " + n.startTime().toMillis() + " ms")
                                .toList(),
                        secs(t0)));

        say("$ kubectl apply -f " + Repo.root().relativize(manifest));
        System.out.print(indent(stack.kubectl("apply", "-f", manifest.toString())));
        long tApply = System.nanoTime();

        var admin = stack.admin();
        boolean preempted = "none".equalsIgnoreCase(reason);
        String outcome;
        try (ProgressPrinter progress = new ProgressPrinter(admin, ns, name, System.out)) {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(timeoutSeconds);
            while (true) {
                TrainingJobStatus s = TrainingJobs.status(admin, ns, name);
                String phase = TrainingJobs.phase(s);
                if (phase.equals("Succeeded") || phase.equals("Failed")) {
                    outcome = phase;
                    break;
                }
                if (System.nanoTime() > deadline) {
                    outcome = "TimedOut";
                    break;
                }
                if (!preempted
                        && phase.equals("Running")
                        && s.getLatestCheckpoint() != null
                        && s.getLatestCheckpoint().getStep() != null
                        && s.getLatestCheckpoint().getStep() > 0) {
                    String pod = name + "-worker-" + preemptRank;
                    List<Pod> running = TrainingJobs.runningPods(admin, ns, name, s.getAttempt());
                    if (running.stream().anyMatch(p -> p.getMetadata().getName().equals(pod))) {
                        progress.poll();
                        preempt(
                                stack,
                                running.stream()
                                        .filter(p -> p.getMetadata().getName().equals(pod))
                                        .findFirst()
                                        .orElseThrow(),
                                reason,
                                s.getLatestCheckpoint().getStep());
                        preempted = true;
                    }
                }
                Thread.sleep(200);
            }
        }
        TrainingJobStatus s = TrainingJobs.status(admin, ns, name);
        System.out.println();
        say("$ kubectl get tj -o wide");
        System.out.print(indent(stack.kubectl("get", "tj", "-n", ns, "-o", "wide")));
        String digest = TrainingJobs.finalStateDigest(admin, ns, name);
        if (digest == null && s.getLatestCheckpoint() != null) {
            digest = s.getLatestCheckpoint().getStateDigest();
        }
        int preemptions = s.getPreemptions() == null ? 0 : s.getPreemptions();
        int failures = s.getFailures() == null ? 0 : s.getFailures();
        String summary;
        if (outcome.equals("Succeeded")) {
            summary =
                    String.format(
                            Locale.ROOT,
                            "%s Succeeded: resumed from step %d after %d preemption%s%s; final stateDigest %s (%.0f s after apply, %.0f s in all)",
                            name,
                            s.getResumedFromStep() == null ? 0 : s.getResumedFromStep(),
                            preemptions,
                            preemptions == 1 ? "" : "s",
                            failures == 0
                                    ? ""
                                    : " and " + failures + " failure" + (failures == 1 ? "" : "s"),
                            digest,
                            secs(tApply),
                            secs(t0));
        } else {
            summary =
                    name
                            + " "
                            + outcome
                            + ": "
                            + (s.getConditions() == null
                                    ? ""
                                    : s.getConditions().stream()
                                            .map(
                                                    c ->
                                                            c.getType()
                                                                    + "="
                                                                    + c.getStatus()
                                                                    + " "
                                                                    + c.getReason()
                                                                    + ": "
                                                                    + c.getMessage())
                                            .toList())
                            + "\n  operator log: "
                            + stack.operator().logFile()
                            + "\n  node dirs: "
                            + stack.nodes().stream().map(n -> n.workDir().toString()).toList();
        }
        System.out.println(summary);
        if (keep) {
            printKeepInstructions(workDir, job, name, ns);
            new CountDownLatch(1).await();
        }
        // Stop in order now (node before control plane): at JVM exit, shutdown hooks run
        // concurrently.
        stack.close();
        return outcome.equals("Succeeded") ? 0 : 1;
    }

    private static void preempt(PhoenixStack stack, Pod pod, String reason, long checkpoint) {
        String what =
                switch (reason) {
                    case "PreemptionByScheduler" ->
                            "kube-scheduler preempts it for a pod of higher priority that needs all "
                                    + "GPUs of "
                                    + pod.getSpec().getNodeName();
                    case "EvictionByEvictionAPI" -> "the Eviction API evicts it";
                    case "DeletionByTaintManager" ->
                            "node " + pod.getSpec().getNodeName() + " is tainted NoExecute";
                    default ->
                            throw new IllegalArgumentException(
                                    "--reason " + reason + ": one of " + PhoenixStack.REASONS);
                };
        say(
                ">>> preempting "
                        + pod.getMetadata().getName()
                        + ": "
                        + what
                        + " (latest checkpoint: step "
                        + checkpoint
                        + ")");
        stack.disrupt(pod, reason);
    }

    private static void printKeepInstructions(
            Path workDir, TrainingJob job, String name, String ns) {
        Path root = Repo.root();
        System.out.println();
        System.out.println(
                "The cluster keeps running (Ctrl-C stops everything). In another shell:");
        System.out.println("  source " + workDir.resolve("env") + "        # KUBECONFIG");
        System.out.println("  kubectl get nodes,pods -o wide");
        System.out.println(
                "  kubectl get tj -w                              # phase, step, checkpoint, restarts");
        System.out.println(
                "  kubectl describe tj "
                        + name
                        + "                  # conditions and the story in events");
        hostPaths(job)
                .forEach(
                        p ->
                                System.out.println(
                                        "  ls "
                                                + p
                                                + "                 # checkpoint steps still on disk (after retention)"));
        System.out.println(
                "  kubectl patch tj "
                        + name
                        + " --type=merge -p '{\"spec\":{\"resumeStep\":260}}'  # train again from step 260 (new timeline)");
        System.out.println(
                "  kubectl delete tj "
                        + name
                        + " && kubectl apply -f "
                        + root.resolve("examples/quickstart.yaml"));
        System.out.println(
                "  "
                        + root.resolve("hack/preempt.sh")
                        + " "
                        + name
                        + "-worker-0                       # kube-scheduler preempts it");
        System.out.println(
                "  "
                        + root.resolve("hack/preempt.sh")
                        + " "
                        + name
                        + "-worker-1 --reason EvictionByEvictionAPI");
        System.out.println(
                "  "
                        + root.resolve("hack/preempt.sh")
                        + " "
                        + name
                        + "-worker-0 --reason DeletionByTaintManager");
        System.out.println(
                "  kubectl logs "
                        + name
                        + "-worker-0                 # the trainer in its container");
        System.out.println(
                "  logs: "
                        + workDir.resolve("logs")
                        + " (operator.log), "
                        + workDir.resolve("control-plane/logs")
                        + ", the nodes' kubelet and containerd logs under /tmp/phx-node-*/logs");
    }

    /** The work dir is ours: remove a previous run's (unless one is still running there). */
    private static void prepareWorkDir(Path workDir) throws IOException {
        Path pidFile = workDir.resolve("local-phoenix.pid");
        if (Files.exists(pidFile)) {
            long pid = Long.parseLong(Files.readString(pidFile).trim());
            if (ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)) {
                throw new IllegalStateException(
                        "another LocalPhoenix (pid "
                                + pid
                                + ") runs in "
                                + workDir
                                + "; stop it or pass --work-dir");
            }
        }
        deleteTree(workDir);
        Files.createDirectories(workDir.resolve("logs"));
        Files.writeString(pidFile, Long.toString(ProcessHandle.current().pid()));
    }

    /**
     * A fresh run starts from scratch: old checkpoints in the manifest's hostPath volumes would be
     * resumed otherwise. The directories are made writable for the trainer's non-root user (on a
     * cluster, a PVC's fsGroup does that; a hostPath has none).
     */
    private static void clearHostPaths(TrainingJob job) throws IOException {
        for (Path p : hostPaths(job)) {
            if (Files.isDirectory(p)) {
                say("clearing the previous run's checkpoints in hostPath " + p);
                try (Stream<Path> s = Files.list(p)) {
                    for (Path c : s.toList()) {
                        deleteTree(c);
                    }
                }
            }
            Files.createDirectories(p);
            Files.setPosixFilePermissions(
                    p, java.nio.file.attribute.PosixFilePermissions.fromString("rwxrwxrwx"));
        }
    }

    /** The hostPath volumes of the job's pod template (where the local run keeps checkpoints). */
    private static List<Path> hostPaths(TrainingJob job) {
        if (job.getSpec() == null
                || job.getSpec().getTemplate() == null
                || job.getSpec().getTemplate().getSpec() == null
                || job.getSpec().getTemplate().getSpec().getVolumes() == null) {
            return List.of();
        }
        return job.getSpec().getTemplate().getSpec().getVolumes().stream()
                .filter(v -> v.getHostPath() != null)
                .map(v -> Path.of(v.getHostPath().getPath()))
                .toList();
    }

    static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        try (Stream<Path> s = Files.walk(p)) {
            for (Path x : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(x);
            }
        }
    }

    private static String indent(String s) {
        return s.lines().map(l -> "  " + l + "\n").reduce("", String::concat);
    }

    private static double secs(long t0) {
        return (System.nanoTime() - t0) / 1e9;
    }

    private static void say(String s) {
        System.out.println("[phoenix] " + s);
    }
}
