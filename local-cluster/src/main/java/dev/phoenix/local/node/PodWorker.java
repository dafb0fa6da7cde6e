package dev.phoenix.local.node;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerState;
import io.fabric8.kubernetes.api.model.ContainerStateBuilder;
import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.ContainerStatusBuilder;
import io.fabric8.kubernetes.api.model.HostAlias;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodCondition;
import io.fabric8.kubernetes.api.model.PodConditionBuilder;
import io.fabric8.kubernetes.api.model.PodIP;
import io.fabric8.kubernetes.api.model.PodStatus;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.client.KubernetesClientException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/** Runs one pod: the kubelet's pod worker, status manager and graceful termination for that pod. */
final class PodWorker implements Runnable {

    private static final Logger log = LoggerFactory.getLogger(PodWorker.class);
    private static final Set<String> OWN_CONDITIONS = Set.of("PodScheduled", "Initialized", "ContainersReady", "Ready");
    static final String SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";
    /** Where the agent's own token, CA and kubeconfig appear in every container (KUBECONFIG points here). */
    static final String PHOENIX_SA_DIR = "/var/run/secrets/phoenix.dev/serviceaccount";

    /** One container (init or main) of the pod. */
    final class Ctr {
        final Container spec;
        final boolean init;
        int restartCount;
        Process process;
        boolean everStarted;
        Instant startedAt;
        ContainerState state = new ContainerStateBuilder().withNewWaiting().withReason("ContainerCreating").endWaiting().build();
        ContainerState lastState;
        boolean exitHandled = true;
        Instant nextStart;
        Integer forcedExitCode;
        Path terminationFile;
        Path logFile;

        Ctr(Container spec, boolean init) {
            this.spec = spec;
            this.init = init;
            if (init) {
                state = new ContainerStateBuilder().withNewWaiting().withReason("PodInitializing").endWaiting().build();
            }
        }

        boolean running() {
            return process != null && !exitHandled;
        }

        boolean terminated() {
            return state.getTerminated() != null;
        }
    }

    private final LocalNode node;
    final String uid;
    final String namespace;
    final String name;
    private volatile Pod pod;
    final Path podDir;
    private final List<Ctr> initCtrs = new ArrayList<>();
    private final List<Ctr> ctrs = new ArrayList<>();
    private final Object lock = new Object();
    private String podIP;
    private Instant startTime;
    private volatile String phase = "Pending";
    private String podReason;
    private String podMessage;
    private boolean initialized;
    private Map<String, Path> volumes = Map.of();
    private Path hostsFile;
    private volatile Path saDir;
    private volatile Instant tokenIssued;
    private boolean deletionRequested;
    private int saRetries;
    private boolean vanished;
    private volatile boolean killedHard;
    private final Set<Process> live = java.util.concurrent.ConcurrentHashMap.newKeySet();
    private Long shutdownGraceSeconds;
    private volatile boolean done;
    private final boolean bwrap;

    PodWorker(LocalNode node, Pod pod) {
        this.node = node;
        this.pod = pod;
        this.uid = pod.getMetadata().getUid();
        this.namespace = pod.getMetadata().getNamespace();
        this.name = pod.getMetadata().getName();
        this.podDir = node.workDir().resolve("pods").resolve(namespace + "_" + name + "_" + uid);
        this.bwrap = node.useBwrap();
        if (pod.getSpec().getInitContainers() != null) {
            pod.getSpec().getInitContainers().forEach(c -> initCtrs.add(new Ctr(c, true)));
        }
        pod.getSpec().getContainers().forEach(c -> ctrs.add(new Ctr(c, false)));
    }

    Pod pod() {
        return pod;
    }

    boolean done() {
        return done;
    }

    boolean terminal() {
        return isTerminalPhase();
    }

    String podIP() {
        return podIP;
    }

    Path logFile(String container) {
        synchronized (lock) {
            for (Ctr c : all()) {
                if (c.spec.getName().equals(container)) {
                    return c.logFile;
                }
            }
        }
        return null;
    }

    /** Root processes (bwrap or the program) currently running. */
    List<Process> processes() {
        return live.stream().filter(Process::isAlive).toList();
    }

    private List<Ctr> all() {
        List<Ctr> a = new ArrayList<>(initCtrs);
        a.addAll(ctrs);
        return a;
    }

    // ---- events from the informer / disruptions ----

    void updated(Pod p) {
        synchronized (lock) {
            this.pod = p;
            if (p.getMetadata().getDeletionTimestamp() != null) {
                deletionRequested = true;
            }
            lock.notifyAll();
        }
    }

    void vanished() {
        synchronized (lock) {
            vanished = true;
            lock.notifyAll();
        }
    }

    /** Node loss: SIGKILL everything now, report nothing. */
    void killHard() {
        killedHard = true;
        for (Process p : live) {
            Sandbox.signal(p.toHandle(), "KILL", bwrap);
        }
        synchronized (lock) {
            lock.notifyAll();
        }
    }

    /** Graceful node shutdown (kubelet 1.21+): terminate with this grace, phase Failed, reason Terminated. */
    void shutdown(long graceSeconds) {
        synchronized (lock) {
            shutdownGraceSeconds = graceSeconds;
            lock.notifyAll();
        }
    }

    /** An application failure: the process exits by itself on this signal. */
    boolean signalContainer(String container, String signal) {
        synchronized (lock) {
            for (Ctr c : all()) {
                if (c.spec.getName().equals(container) && c.running() && c.process.isAlive()) {
                    Sandbox.signal(c.process.toHandle(), signal, false);
                    return true;
                }
            }
            return false;
        }
    }

    private boolean interrupted() {
        return deletionRequested || vanished || killedHard || shutdownGraceSeconds != null || node.stopping();
    }

    // ---- the worker ----

    @Override
    public void run() {
        try {
            Thread.currentThread().setName("pod-" + namespace + "/" + name);
            runPod();
        } catch (Exception e) {
            log.error("pod {}/{}: worker failed", namespace, name, e);
            try {
                synchronized (lock) {
                    terminateAll(0);
                }
            } catch (Exception ignored) {
                // best effort
            }
        } finally {
            PodNetwork.INSTANCE.unregister(uid);
            node.releaseGpus(uid + "/");
            if (podIP != null) {
                PodNetwork.INSTANCE.release(podIP);
            }
            done = true;
            node.workerFinished(this);
        }
    }

    private void runPod() throws Exception {
        synchronized (lock) {
            podIP = PodNetwork.INSTANCE.allocate();
            startTime = Instant.now().truncatedTo(ChronoUnit.SECONDS);
            Files.createDirectories(podDir);
            report();
            // volumes, service account, hosts: retry as the kubelet does until they work
            long backoff = 1000;
            while (true) {
                if (interrupted()) {
                    break;
                }
                try {
                    setUp();
                    break;
                } catch (EnvResolver.ConfigException | KubernetesClientException e) {
                    log.info("pod {}/{}: volume setup: {}", namespace, name, e.getMessage());
                    for (Ctr c : all()) {
                        c.state = new ContainerStateBuilder().withNewWaiting().withReason(c.init ? "PodInitializing" : "ContainerCreating")
                                .withMessage(e.getMessage()).endWaiting().build();
                    }
                    report();
                    lock.wait(backoff);
                    backoff = Math.min(backoff * 2, 10_000);
                }
            }
            if (!interrupted()) {
                runInitContainers();
            }
            if (!interrupted() && !isTerminalPhase()) {
                runMainContainers();
            }
            finish();
        }
    }

    private boolean isTerminalPhase() {
        return "Succeeded".equals(phase) || "Failed".equals(phase);
    }

    private void setUp() throws IOException {
        Pod p = pod;
        volumes = node.volumes().prepare(p, podDir, podIP);
        hostsFile = podDir.resolve("etc-hosts");
        Map<String, List<String>> aliases = new LinkedHashMap<>();
        if (p.getSpec().getHostAliases() != null) {
            for (HostAlias a : p.getSpec().getHostAliases()) {
                aliases.put(a.getIp(), a.getHostnames());
            }
        }
        PodNetwork.Entry entry = new PodNetwork.Entry(uid, podIP, namespace, hostname(p), p.getSpec().getSubdomain(), hostsFile, aliases);
        PodNetwork.INSTANCE.write(entry);
        PodNetwork.INSTANCE.register(entry);
        if (!Boolean.FALSE.equals(p.getSpec().getAutomountServiceAccountToken()) && node.serviceAccountTokens()) {
            String token;
            try {
                token = node.volumes().token(p, List.of(), node.tokenExpirationSeconds());
            } catch (KubernetesClientException e) {
                String sa = p.getSpec().getServiceAccountName();
                if (e.getCode() == 404 && (sa == null || sa.isEmpty() || "default".equals(sa)) && saRetries++ >= 3) {
                    // no ServiceAccount admission / controller: the pod simply gets no token, as in such a cluster
                    log.info("pod {}/{}: no ServiceAccount {}, running without a token", namespace, name, PodVolumes.serviceAccount(p));
                    return;
                }
                throw e;
            }
            Path dir = podDir.resolve("serviceaccount");
            Files.createDirectories(dir);
            Files.writeString(dir.resolve("namespace"), namespace);
            byte[] caBytes = node.caCertBytes();
            if (caBytes != null) {
                Files.write(dir.resolve("ca.crt"), caBytes);
            }
            writeCredentials(dir, token);
            saDir = dir;
        }
    }

    /**
     * Writes the token and a kubeconfig with the token inline (Fabric8 ignores {@code tokenFile}; on a 401 it
     * re-reads the kubeconfig), each replaced atomically: the directory, not the files, is bind-mounted, so
     * the processes see the new files.
     */
    private void writeCredentials(Path dir, String token) throws IOException {
        String inPod = bwrap ? PHOENIX_SA_DIR : dir.toString();
        String sa = PodVolumes.serviceAccount(pod);
        String kubeconfig = "apiVersion: v1\nkind: Config\nclusters:\n- name: local\n  cluster:\n    server: " + node.serverUrl() + "\n"
                + (node.caCertBytes() != null ? "    certificate-authority: " + inPod + "/ca.crt\n" : "    insecure-skip-tls-verify: true\n")
                + "users:\n- name: " + sa + "\n  user:\n    token: " + token + "\n"
                + "contexts:\n- name: local\n  context:\n    cluster: local\n    user: " + sa
                + "\n    namespace: " + namespace + "\ncurrent-context: local\n";
        replace(dir, "token", token);
        replace(dir, "kubeconfig", kubeconfig);
        tokenIssued = Instant.now();
    }

    private static void replace(Path dir, String file, String content) throws IOException {
        Path tmp = dir.resolve("." + file + ".tmp");
        Files.writeString(tmp, content);
        Files.move(tmp, dir.resolve(file), java.nio.file.StandardCopyOption.REPLACE_EXISTING, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    }

    /** Renews the ServiceAccount token when 60% of its lifetime has passed (the kubelet renews at 80%). Called off the worker lock. */
    void refreshTokenIfDue() {
        Path dir = saDir;
        Instant issued = tokenIssued;
        if (dir == null || issued == null || done || isTerminalPhase()
                || Instant.now().isBefore(issued.plusSeconds(node.tokenExpirationSeconds() * 6 / 10))) {
            return;
        }
        try {
            writeCredentials(dir, node.volumes().token(pod, List.of(), node.tokenExpirationSeconds()));
        } catch (IOException | KubernetesClientException e) {
            log.warn("pod {}/{}: token refresh failed: {}", namespace, name, e.toString());
        }
    }

    static String hostname(Pod p) {
        String h = p.getSpec().getHostname();
        if (h == null || h.isEmpty()) {
            h = p.getMetadata().getName();
            if (h.length() > 63) {
                h = h.substring(0, 63);
            }
        }
        return h;
    }

    private String restartPolicy() {
        String rp = pod.getSpec().getRestartPolicy();
        return rp == null ? "Always" : rp;
    }

    private void runInitContainers() throws Exception {
        for (Ctr c : initCtrs) {
            long backoff = node.restartBackoffMillis();
            while (true) {
                if (interrupted()) {
                    return;
                }
                if (!start(c)) {
                    if ("Never".equals(restartPolicy())) {
                        phase = "Failed";
                        report();
                        return;
                    }
                    report();
                    lock.wait(backoff);
                    backoff = Math.min(backoff * 2, node.maxRestartBackoffMillis());
                    continue;
                }
                report();
                while (!interrupted() && c.process.isAlive()) {
                    lock.wait(1000);
                }
                if (interrupted()) {
                    return;
                }
                int code = collect(c);
                if (code == 0) {
                    report();
                    break;
                }
                if ("Never".equals(restartPolicy())) {
                    phase = "Failed";
                    report();
                    return;
                }
                c.lastState = c.state;
                c.restartCount++;
                c.state = new ContainerStateBuilder().withNewWaiting().withReason("CrashLoopBackOff")
                        .withMessage("back-off restarting failed container " + c.spec.getName()).endWaiting().build();
                report();
                lock.wait(backoff);
                backoff = Math.min(backoff * 2, node.maxRestartBackoffMillis());
            }
        }
        initialized = true;
    }

    private void runMainContainers() throws Exception {
        initialized = true;
        for (Ctr c : ctrs) {
            if (!start(c)) {
                c.nextStart = Instant.now().plusMillis(node.restartBackoffMillis());
            }
        }
        phase = "Running";
        report();
        long[] backoff = new long[ctrs.size()];
        java.util.Arrays.fill(backoff, node.restartBackoffMillis());
        while (!interrupted()) {
            boolean changed = false;
            for (int i = 0; i < ctrs.size(); i++) {
                Ctr c = ctrs.get(i);
                if (c.process != null && !c.exitHandled && !c.process.isAlive()) {
                    int code = collect(c);
                    changed = true;
                    String rp = restartPolicy();
                    if ("Always".equals(rp) || ("OnFailure".equals(rp) && code != 0)) {
                        c.nextStart = Instant.now().plusMillis(backoff[i]);
                        backoff[i] = Math.min(backoff[i] * 2, node.maxRestartBackoffMillis());
                    }
                }
                if (c.nextStart != null && !Instant.now().isBefore(c.nextStart)) {
                    c.nextStart = null;
                    if (c.terminated()) {
                        c.lastState = c.state;
                        c.restartCount++;
                    }
                    if (!start(c)) {
                        c.nextStart = Instant.now().plusMillis(backoff[i]);
                    }
                    changed = true;
                } else if (c.nextStart != null && c.terminated()) {
                    c.lastState = c.state;
                    c.restartCount++;
                    c.state = new ContainerStateBuilder().withNewWaiting().withReason("CrashLoopBackOff")
                            .withMessage("back-off restarting failed container " + c.spec.getName()).endWaiting().build();
                    changed = true;
                }
            }
            boolean allTerminated = ctrs.stream().allMatch(c -> c.terminated() && c.nextStart == null);
            if (allTerminated) {
                phase = ctrs.stream().allMatch(c -> c.state.getTerminated().getExitCode() == 0) ? "Succeeded" : "Failed";
                PodNetwork.INSTANCE.unregister(uid); // a finished pod no longer resolves for the others
                report();
                return;
            }
            if (changed) {
                report();
            }
            long wait = 1000;
            for (Ctr c : ctrs) {
                if (c.nextStart != null) {
                    wait = Math.max(10, Math.min(wait, c.nextStart.toEpochMilli() - System.currentTimeMillis()));
                }
            }
            lock.wait(wait);
        }
    }

    /** Starts a container; false (with a waiting state) when its configuration cannot be resolved. */
    private boolean start(Ctr c) {
        Pod p = pod;
        Container spec = c.spec;
        try {
            Map<String, String> env = new LinkedHashMap<>();
            Map<String, String> podEnv = node.env().resolve(p, spec, podIP, node.hostIP());
            List<String> command = EnvResolver.expandAll(spec.getCommand(), podEnv);
            List<String> args = EnvResolver.expandAll(spec.getArgs(), podEnv);
            ImageMapping.Resolved resolved = node.images().resolve(spec.getImage(), command, args, node::variable);
            env.put("HOSTNAME", hostname(p));
            env.putAll(resolved.imageEnv());
            String termPath = spec.getTerminationMessagePath() == null || spec.getTerminationMessagePath().isEmpty()
                    ? "/dev/termination-log" : spec.getTerminationMessagePath();
            env.put("PHOENIX_TERMINATION_LOG", termPath);
            env.put("KUBERNETES_SERVICE_HOST", node.serverHost());
            env.put("KUBERNETES_SERVICE_PORT", Integer.toString(node.serverPort()));
            List<Sandbox.Mount> mounts = new ArrayList<>();
            if (saDir != null) {
                env.put("KUBECONFIG", (bwrap ? PHOENIX_SA_DIR : saDir.toString()) + "/kubeconfig");
                mounts.add(new Sandbox.Mount(saDir, PHOENIX_SA_DIR, true));
                boolean userMountsSa = spec.getVolumeMounts() != null && spec.getVolumeMounts().stream().anyMatch(m -> SA_DIR.equals(m.getMountPath()));
                if (!userMountsSa) {
                    mounts.add(new Sandbox.Mount(saDir, SA_DIR, true));
                }
            }
            if (node.gpuCount() > 0) {
                int n = gpuRequest(spec);
                List<Integer> gpus = n > 0 ? node.allocateGpus(uid + "/" + spec.getName(), n) : List.of();
                String visible = gpus.stream().map(String::valueOf).collect(java.util.stream.Collectors.joining(","));
                env.put("NVIDIA_VISIBLE_DEVICES", gpus.isEmpty() ? "void" : visible);
                env.put("CUDA_VISIBLE_DEVICES", visible);
            }
            env.putAll(podEnv);
            if (spec.getVolumeMounts() != null) {
                for (VolumeMount vm : spec.getVolumeMounts()) {
                    Path src = volumes.get(vm.getName());
                    if (src == null) {
                        throw new EnvResolver.ConfigException("volume " + vm.getName() + " not found");
                    }
                    if (vm.getSubPath() != null && !vm.getSubPath().isEmpty()) {
                        src = src.resolve(vm.getSubPath());
                        if (!Files.exists(src)) {
                            Files.createDirectories(src);
                        }
                    } else if (vm.getSubPathExpr() != null && !vm.getSubPathExpr().isEmpty()) {
                        src = src.resolve(EnvResolver.expand(vm.getSubPathExpr(), podEnv));
                        Files.createDirectories(src);
                    }
                    mounts.add(new Sandbox.Mount(src, vm.getMountPath(), Boolean.TRUE.equals(vm.getReadOnly())));
                }
            }
            Path cdir = podDir.resolve("containers").resolve(spec.getName());
            Files.createDirectories(cdir);
            c.terminationFile = cdir.resolve("termination-log-" + c.restartCount);
            Files.write(c.terminationFile, new byte[0]);
            c.logFile = podDir.resolve("logs").resolve(spec.getName()).resolve(c.restartCount + ".log");
            Files.createDirectories(c.logFile.getParent());
            if (!bwrap) {
                env.put("PHOENIX_TERMINATION_LOG", c.terminationFile.toString());
            }
            Sandbox.Spec sspec = new Sandbox.Spec(resolved.command(), env, mounts, c.terminationFile, termPath,
                    hostsFile, spec.getWorkingDir(), c.logFile, hostname(p));
            Files.writeString(cdir.resolve("command"), String.join("\n", Sandbox.commandLine(sspec, bwrap)) + "\n");
            c.process = Sandbox.start(sspec, node.baseEnv(), bwrap);
            Process proc = c.process;
            live.add(proc);
            proc.onExit().thenRun(() -> {
                live.remove(proc);
                wake();
            });
            if (killedHard) {
                Sandbox.signal(proc.toHandle(), "KILL", bwrap);
            }
            Files.writeString(cdir.resolve("pid"), Long.toString(c.process.pid()));
            c.everStarted = true;
            c.exitHandled = false;
            c.forcedExitCode = null;
            c.startedAt = Instant.now().truncatedTo(ChronoUnit.SECONDS);
            c.state = new ContainerStateBuilder().withNewRunning().withStartedAt(c.startedAt.toString()).endRunning().build();
            // The full command line (class paths run to kilobytes) is in the container's "command" file.
            log.info("pod {}/{}: started container {} (pid {}): {} (full command in {})", namespace, name, spec.getName(),
                    c.process.pid(), resolved.command().get(0), cdir.resolve("command"));
            return true;
        } catch (EnvResolver.ConfigException | IllegalArgumentException e) {
            c.state = new ContainerStateBuilder().withNewWaiting().withReason("CreateContainerConfigError").withMessage(e.getMessage()).endWaiting().build();
            log.warn("pod {}/{}: container {}: {}", namespace, name, spec.getName(), e.getMessage());
            return false;
        } catch (IOException | KubernetesClientException e) {
            c.state = new ContainerStateBuilder().withNewWaiting().withReason("RunContainerError").withMessage(e.getMessage()).endWaiting().build();
            log.warn("pod {}/{}: container {}: {}", namespace, name, spec.getName(), e.toString());
            return false;
        }
    }

    static int gpuRequest(Container c) {
        if (c.getResources() == null) {
            return 0;
        }
        var q = c.getResources().getLimits() == null ? null : c.getResources().getLimits().get(LocalNode.GPU);
        if (q == null && c.getResources().getRequests() != null) {
            q = c.getResources().getRequests().get(LocalNode.GPU);
        }
        return q == null ? 0 : q.getNumericalAmount().intValue();
    }

    private void wake() {
        synchronized (lock) {
            lock.notifyAll();
        }
    }

    /** Records the terminated state of an exited container; returns the exit code. */
    private int collect(Ctr c) {
        int code;
        try {
            code = c.process.waitFor();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            code = 137;
        }
        if (c.forcedExitCode != null && code != 0 && code != 143 && code < 128) {
            code = c.forcedExitCode;
        }
        c.exitHandled = true;
        String message = readTermination(c, code);
        var t = new ContainerStateBuilder().withNewTerminated()
                .withExitCode(code)
                .withReason(code == 0 ? "Completed" : "Error")
                .withStartedAt(c.startedAt == null ? null : c.startedAt.toString())
                .withFinishedAt(Instant.now().truncatedTo(ChronoUnit.SECONDS).toString())
                .withContainerID(containerId(c));
        if (message != null && !message.isEmpty()) {
            t.withMessage(message);
        }
        c.state = t.endTerminated().build();
        log.info("pod {}/{}: container {} exited with {}", namespace, name, c.spec.getName(), code);
        return code;
    }

    private String containerId(Ctr c) {
        return c.process == null ? null : "local://" + uid + "/" + c.spec.getName() + "/" + c.restartCount + "/" + c.process.pid();
    }

    private String readTermination(Ctr c, int code) {
        String msg = "";
        try {
            if (c.terminationFile != null && Files.exists(c.terminationFile)) {
                byte[] b = Files.readAllBytes(c.terminationFile);
                if (b.length > 4096) {
                    b = java.util.Arrays.copyOf(b, 4096);
                }
                msg = new String(b, StandardCharsets.UTF_8);
            }
            if (msg.isEmpty() && code != 0 && "FallbackToLogsOnError".equals(c.spec.getTerminationMessagePolicy()) && c.logFile != null) {
                msg = tail(c.logFile, 80, 2048);
            }
        } catch (IOException e) {
            log.debug("termination message of {}: {}", c.spec.getName(), e.toString());
        }
        return msg;
    }

    static String tail(Path file, int maxLines, int maxBytes) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "r")) {
            long len = f.length();
            int n = (int) Math.min(len, maxBytes);
            byte[] b = new byte[n];
            f.seek(len - n);
            f.readFully(b);
            String s = new String(b, StandardCharsets.UTF_8);
            String[] lines = s.split("\n", -1);
            if (lines.length > maxLines + 1) {
                s = String.join("\n", java.util.Arrays.copyOfRange(lines, lines.length - maxLines - 1, lines.length));
            }
            return s;
        }
    }

    /** SIGTERM everything running, wait up to grace, SIGKILL what is left, record the terminated states. */
    private void terminateAll(long graceSeconds) throws InterruptedException {
        List<Ctr> running = new ArrayList<>();
        for (Ctr c : all()) {
            if (c.running()) {
                running.add(c);
            }
            c.nextStart = null;
        }
        if (graceSeconds > 0) {
            for (Ctr c : running) {
                Sandbox.signal(c.process.toHandle(), "TERM", bwrap);
            }
            long deadline = System.currentTimeMillis() + graceSeconds * 1000;
            while (running.stream().anyMatch(c -> c.process.isAlive())) {
                long left = deadline - System.currentTimeMillis();
                if (left <= 0) {
                    break;
                }
                lock.wait(Math.min(left, 200));
            }
        }
        for (Ctr c : running) {
            if (c.process.isAlive()) {
                c.forcedExitCode = 137;
                Sandbox.signal(c.process.toHandle(), "KILL", bwrap);
            }
        }
        for (Ctr c : running) {
            c.process.waitFor();
            collect(c);
        }
        for (Ctr c : all()) {
            if (!c.terminated() && !c.everStarted && !c.init) {
                // never ran: the kubelet reports it terminated with ContainerStatusUnknown-like data
                c.state = new ContainerStateBuilder().withNewTerminated().withExitCode(137).withReason("ContainerStatusUnknown")
                        .withMessage("The container could not be located when the pod was terminated").endTerminated().build();
            }
        }
    }

    private long graceSeconds() {
        Pod p = pod;
        Long g = p.getMetadata().getDeletionGracePeriodSeconds();
        if (g == null) {
            g = p.getSpec().getTerminationGracePeriodSeconds();
        }
        return g == null ? 30 : g;
    }

    private void finish() throws Exception {
        if (killedHard || (node.stopping() && !deletionRequested && shutdownGraceSeconds == null)) {
            // the node died (or the agent stops): processes die with it, nothing is reported
            for (Ctr c : all()) {
                if (c.process != null && c.process.isAlive()) {
                    Sandbox.signal(c.process.toHandle(), "KILL", bwrap);
                }
            }
            return;
        }
        if (shutdownGraceSeconds != null && !deletionRequested) {
            terminateAll(shutdownGraceSeconds);
            phase = "Failed";
            podReason = "Terminated";
            podMessage = "Pod was terminated in response to imminent node shutdown.";
            report();
            return;
        }
        // a finished pod stays until someone deletes it
        while (!deletionRequested && !vanished && !killedHard && !node.stopping() && shutdownGraceSeconds == null) {
            lock.wait(1000);
        }
        if (killedHard || (node.stopping() && !deletionRequested)) {
            return;
        }
        if (shutdownGraceSeconds != null && !deletionRequested) {
            report();
            return;
        }
        if (vanished) {
            terminateAll(Math.min(graceSeconds(), 30));
            return;
        }
        terminateAll(graceSeconds());
        if (!isTerminalPhase()) {
            boolean allZero = ctrs.stream().allMatch(c -> c.terminated() && c.state.getTerminated().getExitCode() == 0);
            phase = allZero ? "Succeeded" : "Failed";
        }
        report();
        node.finalizeDeletion(namespace, name, uid);
    }

    // ---- status ----

    private void report() {
        if (killedHard || node.dead()) {
            return;
        }
        for (int attempt = 0; attempt < 20; attempt++) {
            Pod cur;
            try {
                cur = node.client().pods().inNamespace(namespace).withName(name).get();
            } catch (KubernetesClientException e) {
                log.warn("pod {}/{}: get failed: {}", namespace, name, e.getMessage());
                sleepQuietly(200);
                continue;
            }
            if (cur == null || !uid.equals(cur.getMetadata().getUid())) {
                return;
            }
            cur.setStatus(buildStatus(cur.getStatus()));
            try {
                node.client().pods().inNamespace(namespace).resource(cur).updateStatus();
                return;
            } catch (KubernetesClientException e) {
                if (e.getCode() == 409) {
                    continue;
                }
                if (e.getCode() == 404) {
                    return;
                }
                log.warn("pod {}/{}: status update failed: {}", namespace, name, e.getMessage());
                sleepQuietly(200);
            }
        }
    }

    private static void sleepQuietly(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private PodStatus buildStatus(PodStatus old) {
        PodStatus s = old == null ? new PodStatus() : old;
        String now = Instant.now().truncatedTo(ChronoUnit.SECONDS).toString();
        s.setPhase(phase);
        s.setHostIP(node.hostIP());
        s.setPodIP(podIP);
        s.setPodIPs(podIP == null ? List.of() : List.of(new PodIP(podIP)));
        s.setStartTime(startTime == null ? null : startTime.toString());
        if (podReason != null) {
            s.setReason(podReason);
            s.setMessage(podMessage);
        }
        boolean terminal = isTerminalPhase();
        boolean allRunning = ctrs.stream().allMatch(Ctr::running);
        List<String> unready = ctrs.stream().filter(c -> !c.running()).map(c -> c.spec.getName()).toList();
        List<PodCondition> conds = new ArrayList<>();
        Map<String, PodCondition> existing = new LinkedHashMap<>();
        if (s.getConditions() != null) {
            for (PodCondition c : s.getConditions()) {
                existing.put(c.getType(), c);
            }
        }
        List<String> uninit = initCtrs.stream().filter(c -> !(c.terminated() && c.state.getTerminated().getExitCode() == 0))
                .map(c -> c.spec.getName()).toList();
        conds.add(cond(existing, "Initialized", initialized || uninit.isEmpty(), terminal && !initialized ? "PodCompleted" : "ContainersNotInitialized",
                "containers with incomplete status: " + uninit, now));
        String notReadyReason = terminal ? "PodCompleted" : "ContainersNotReady";
        String notReadyMsg = terminal ? null : "containers with unready status: " + unready;
        conds.add(cond(existing, "Ready", allRunning && !terminal, notReadyReason, notReadyMsg, now));
        conds.add(cond(existing, "ContainersReady", allRunning && !terminal, notReadyReason, notReadyMsg, now));
        conds.add(cond(existing, "PodScheduled", true, null, null, now));
        for (PodCondition c : existing.values()) {
            if (!OWN_CONDITIONS.contains(c.getType())) {
                conds.add(c);
            }
        }
        s.setConditions(conds);
        s.setInitContainerStatuses(initCtrs.isEmpty() ? null : initCtrs.stream().map(this::containerStatus).toList());
        s.setContainerStatuses(ctrs.stream().map(this::containerStatus).toList());
        if (s.getQosClass() == null) {
            s.setQosClass("BestEffort");
        }
        return s;
    }

    private static PodCondition cond(Map<String, PodCondition> existing, String type, boolean status, String reason, String message, String now) {
        String st = status ? "True" : "False";
        PodCondition old = existing.get(type);
        String transition = old != null && st.equals(old.getStatus()) && old.getLastTransitionTime() != null ? old.getLastTransitionTime() : now;
        return new PodConditionBuilder().withType(type).withStatus(st).withLastProbeTime(null)
                .withLastTransitionTime(transition).withReason(status ? null : reason).withMessage(status ? null : message).build();
    }

    private ContainerStatus containerStatus(Ctr c) {
        return new ContainerStatusBuilder()
                .withName(c.spec.getName())
                .withImage(c.spec.getImage())
                .withImageID("local://" + Objects.toString(c.spec.getImage(), ""))
                .withContainerID(containerId(c))
                .withReady(c.running() && !c.init)
                .withStarted(c.init ? null : c.running())
                .withRestartCount(c.restartCount)
                .withState(c.state)
                .withLastState(c.lastState == null ? new ContainerState() : c.lastState)
                .build();
    }
}
