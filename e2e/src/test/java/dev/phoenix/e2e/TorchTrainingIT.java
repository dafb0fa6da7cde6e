package dev.phoenix.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import dev.phoenix.api.v1alpha1.TrainingJob;
import dev.phoenix.api.v1alpha1.TrainingJobStatus;
import dev.phoenix.local.realnode.RealNode;
import io.fabric8.kubernetes.api.model.ContainerBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * PyTorch trainers under Phoenix in real containers of the image the build makes ({@code
 * phoenix/trainer-torch:cpu}, {@code hack/torch-image.sh}) on the real nodes: a 2-rank gloo gang of
 * phoenix-torch's example trainer preempted by each of the cluster's disruption sources and then
 * rewound by a {@code resumeStep} patch ends bit-identical to an uninterrupted run; a trainer that
 * knows nothing of Phoenix and checkpoints with TorchTitan's own {@code CheckpointManager}, run
 * with the phoenix-agent as a native sidecar, resumes from exactly the step Phoenix injects through
 * TorchTitan's {@code --checkpoint.load_step}.
 */
class TorchTrainingIT {

    /** The one node that holds the PyTorch image; every pod of these tests runs there. */
    private static String node;

    @BeforeAll
    static void importImage() throws Exception {
        // 4 GB: imported into one node only (a minute per node), and the jobs pinned to it. Every
        // disruption used here leaves that node usable: the scheduler's preemptor and the NoExecute
        // taint are removed once the victims are gone, and the replacements wait for them.
        RealNode n = E2e.stack().node();
        long t0 = System.nanoTime();
        n.importImage(PhoenixStack.torchImageArchive());
        node = n.name();
        System.out.printf(
                "PyTorch image imported into %s in %d s%n",
                node, TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - t0));
    }

    private static TrainingJob pinned(TrainingJob job) {
        job.getSpec()
                .getTemplate()
                .getSpec()
                .setNodeSelector(java.util.Map.of("kubernetes.io/hostname", node));
        return job;
    }

    private String namespace;

    /** A job left running by a failed test would take the next test's disruptions. */
    @AfterEach
    void deleteJobs() {
        if (namespace != null) {
            E2e.stack().admin().resources(TrainingJob.class).inNamespace(namespace).delete();
        }
    }

    @Test
    void gangPreemptedByEachSourceThenRewoundEndsBitIdenticalToAnUninterruptedRun()
            throws Exception {
        PhoenixStack s = E2e.stack();
        JobConfig cfg = JobConfig.small(2, 400).withStepSleepMs(50).withSeed(11);
        CompletableFuture<String> reference =
                ReferenceRuns.stateDigest(
                        TrainerKind.TORCH, cfg, s.workDir().resolve("references"));
        String ns = namespace = s.controlPlane().createNamespace("torch");
        String name = "torch-mlp";
        Random rnd = E2e.random("TorchTrainingIT");
        List<String> plan = new ArrayList<>(PhoenixStack.REASONS);
        Collections.shuffle(plan, rnd);
        System.out.println("disruption plan: " + plan);

        s.admin()
                .resource(
                        pinned(
                                TrainingJobs.job(
                                        ns,
                                        name,
                                        TrainerKind.TORCH,
                                        cfg,
                                        s.checkpointDir(ns, name))))
                .create();
        List<String> done = new ArrayList<>();
        for (int i = 0; i < plan.size(); i++) {
            int attempt = i + 1;
            Pod victim = E2e.victimMidAttempt(s, ns, name, cfg, attempt, rnd);
            long at = E2e.step(TrainingJobs.status(s.admin(), ns, name));
            s.disrupt(victim, plan.get(i));
            done.add(plan.get(i) + " of " + victim.getMetadata().getName() + " at step " + at);
            System.out.println("disruption " + attempt + ": " + done.get(i));
        }

        // A user rewinds the job to a checkpoint of the 4th attempt still on disk (keepLatest 3),
        // one interval behind the newest.
        int fourth = plan.size() + 1;
        TrainingJobStatus before =
                E2e.await(
                        s,
                        ns,
                        name,
                        Duration.ofMinutes(3),
                        "two checkpoints into attempt " + fourth,
                        x ->
                                E2e.attempt(x) == fourth
                                        && E2e.checkpoint(x)
                                                >= E2e.resumedFrom(x) + 2L * cfg.intervalSteps()
                                        && E2e.training(s, ns, name, x, cfg.replicas()));
        long rewind = E2e.checkpoint(before) - cfg.intervalSteps();
        assertThat(Files.isDirectory(s.checkpointDir(ns, name).resolve(stepDir(rewind))))
                .as("step %d on disk", rewind)
                .isTrue();
        String out = E2e.patchSpec(s, ns, name, "{\"resumeStep\":" + rewind + "}");
        System.out.printf(
                "kubectl patch: %s (job at step %d, checkpoint %d)%n",
                out.strip(), E2e.step(before), E2e.checkpoint(before));
        int fifth = fourth + 1;
        E2e.await(
                s,
                ns,
                name,
                Duration.ofMinutes(3),
                "rewound to step " + rewind,
                x ->
                        E2e.attempt(x) == fifth
                                && TrainingJobs.runningPods(s.admin(), ns, name, fifth).size()
                                        == cfg.replicas());

        // Both ranks of the rewound attempt, while they run (once rank 0 finishes, the operator
        // deletes what is left of the gang): the pinned step in their environment and loaded.
        List<Pod> gang =
                TrainingJobs.pods(s.admin(), ns, name).stream()
                        .filter(p -> TrainingJobs.attemptOf(p) == fifth)
                        .toList();
        assertThat(gang).extracting(TrainingJobs::rankOf).containsExactlyInAnyOrder(0, 1);
        for (Pod p : gang) {
            String who = p.getMetadata().getName();
            assertThat(TrainingJobs.env(p, "PHOENIX_RESUME_STEP"))
                    .as(who + " PHOENIX_RESUME_STEP")
                    .isEqualTo(Long.toString(rewind));
            E2e.until(
                    Duration.ofMinutes(2),
                    who + " logging that it loaded exactly step " + rewind,
                    () -> s.log(p, "trainer").contains("resumed from step " + rewind + " "));
        }

        TrainingJobStatus end =
                E2e.await(s, ns, name, Duration.ofMinutes(5), "Succeeded", E2e::succeeded);
        String expected = reference.get(10, TimeUnit.MINUTES);
        String actual = TrainingJobs.finalStateDigest(s.admin(), ns, name);
        System.out.printf(
                "%s: %s, then resumeStep %d; attempts %d, preemptions %d, failures %d; final stateDigest %s, uninterrupted %s%n",
                name,
                done,
                rewind,
                end.getAttempt(),
                end.getPreemptions(),
                end.getFailures(),
                actual,
                expected);
        assertThat(end.getResumedFromStep()).isEqualTo(rewind);
        assertThat(end.getPreemptions()).as("preemptions").isEqualTo(plan.size());
        assertThat(end.getFailures()).as("failures").isZero();
        assertThat(end.getAttempt()).as("attempts").isEqualTo(fifth);
        assertThat(actual)
                .as("final stateDigest (rank 0's termination message) vs the uninterrupted run")
                .isEqualTo(expected);
        assertThat(end.getLatestCheckpoint().getStateDigest()).isEqualTo(expected);
        assertThat(E2e.auditor().violations()).as("two attempts' pods at once").isEmpty();
        // The library writes checkpoint, inventory and progress as the operator validates them.
        assertThat(rejectedReports(s, ns)).as("ReportRejected events").isEmpty();
    }

    private static List<String> rejectedReports(PhoenixStack s, String ns) {
        return s.admin().v1().events().inNamespace(ns).list().getItems().stream()
                .filter(e -> "ReportRejected".equals(e.getReason()))
                .map(e -> e.getMessage())
                .toList();
    }

    private static String stepDir(long step) {
        return String.format("step-%010d", step);
    }

    private static final Pattern LOADED = Pattern.compile("(?m)^loaded step (\\d+)$");
    private static final Pattern FINAL = Pattern.compile("(?m)^final step (\\d+) params (\\S+)$");
    private static final int TITAN_STEPS = 60;

    /**
     * The trainer as a TorchTitan user has it: TorchTitan's CheckpointManager writes {@code
     * step-N/} with DCP, loads {@code --checkpoint.load_step} (-1: nothing), and knows nothing of
     * Phoenix. The agent's preflight verifies the injected step and moves newer ones aside; its
     * sidecar digests and reports every committed step. One Eviction API disruption.
     */
    @Test
    void torchTitanCheckpointLayoutWithTheAgentSidecarResumesFromTheInjectedStep()
            throws Exception {
        PhoenixStack s = E2e.stack();
        String ns = namespace = s.controlPlane().createNamespace("titan");
        String name = "titan";
        List<String> args =
                List.of("--training.steps", Integer.toString(TITAN_STEPS), "--seed", "5");
        CompletableFuture<String> reference =
                CompletableFuture.supplyAsync(() -> titanReference(s.workDir(), args));

        JobConfig cfg = JobConfig.small(1, TITAN_STEPS);
        TrainingJob job =
                TrainingJobs.job(ns, name, TrainerKind.TORCH, cfg, s.checkpointDir(ns, name));
        job.getSpec().getCheckpoint().setIntervalSteps(5);
        var pod = job.getSpec().getTemplate().getSpec();
        var trainer = pod.getContainers().get(0);
        trainer.setCommand(List.of("/bin/sh", "-c"));
        trainer.setArgs(
                List.of(
                        String.join(
                                "\n",
                                "/opt/python/bin/phoenix-agent preflight || exit $?",
                                // TorchTitan reads load_step=0 as step-0: a fresh start is -1
                                "step=\"${PHOENIX_RESUME_STEP:--1}\"; [ \"$step\" -gt 0 ] || step=-1",
                                "exec /opt/python/bin/python3 -m phoenix_torch.examples.titan_layout"
                                        + " --checkpoint.folder \"$PHOENIX_CHECKPOINT_DIR\""
                                        + " --checkpoint.interval \"$PHOENIX_CHECKPOINT_INTERVAL\""
                                        + " --checkpoint.keep_latest_k \"$PHOENIX_CHECKPOINT_KEEP\""
                                        + " --checkpoint.load_step=\"$step\" --step-sleep-ms 300 "
                                        + String.join(" ", args))));
        pod.setInitContainers(
                List.of(
                        new ContainerBuilder()
                                .withName("phoenix-agent")
                                .withImage(PhoenixStack.TORCH_IMAGE)
                                .withImagePullPolicy("IfNotPresent")
                                .withRestartPolicy("Always") // native sidecar
                                .withCommand(
                                        "/opt/python/bin/phoenix-agent", "watch", "--interval", "1")
                                .withVolumeMounts(trainer.getVolumeMounts())
                                .withEnv(trainer.getEnv())
                                .withSecurityContext(trainer.getSecurityContext())
                                .build()));
        s.admin().resource(pinned(job)).create();

        TrainingJobStatus st =
                E2e.await(
                        s,
                        ns,
                        name,
                        Duration.ofMinutes(3),
                        "a checkpoint reported by the agent at step >= 15",
                        x -> E2e.checkpoint(x) >= 15 && E2e.training(s, ns, name, x, 1));
        assertThat(E2e.attempt(st)).as("no restart before the disruption").isEqualTo(1);
        Pod victim = TrainingJobs.runningPods(s.admin(), ns, name, 1).get(0);
        s.disrupt(victim, "EvictionByEvictionAPI");
        System.out.println(
                "evicted " + victim.getMetadata().getName() + " at step " + E2e.step(st));

        // The sidecar's last pass (after TorchTitan exits) reports the final step.
        TrainingJobStatus end =
                E2e.await(
                        s,
                        ns,
                        name,
                        Duration.ofMinutes(4),
                        "Succeeded with the final checkpoint reported",
                        x -> E2e.succeeded(x) && E2e.checkpoint(x) == TITAN_STEPS);
        Pod second =
                TrainingJobs.pods(s.admin(), ns, name).stream()
                        .filter(p -> TrainingJobs.attemptOf(p) == 2)
                        .findFirst()
                        .orElseThrow();
        String injected = TrainingJobs.env(second, "PHOENIX_RESUME_STEP");
        String log = s.log(second, "trainer");
        Matcher loaded = LOADED.matcher(log);
        Matcher fin = FINAL.matcher(log);
        assertThat(loaded.find()).as("attempt 2 log: " + log).isTrue();
        assertThat(fin.find()).as("attempt 2 log: " + log).isTrue();
        String expected = reference.get(5, TimeUnit.MINUTES);
        System.out.printf(
                "%s: injected step %s, TorchTitan loaded step %s; final %s %s, uninterrupted %s; preemptions %d, failures %d%n",
                name,
                injected,
                loaded.group(1),
                fin.group(1),
                fin.group(2),
                expected,
                end.getPreemptions(),
                end.getFailures());
        assertThat(Long.parseLong(injected)).as("injected step").isGreaterThanOrEqualTo(15);
        assertThat(loaded.group(1)).as("TorchTitan loaded the injected step").isEqualTo(injected);
        assertThat(fin.group(1)).isEqualTo(Integer.toString(TITAN_STEPS));
        assertThat(fin.group(2)).as("parameters vs the uninterrupted run").isEqualTo(expected);
        assertThat(end.getPreemptions()).isEqualTo(1);
        assertThat(end.getFailures()).isZero();
        assertThat(rejectedReports(s, ns)).as("ReportRejected events").isEmpty();
    }

    /** The same TorchTitan-layout program, uninterrupted, as a local process: its final digest. */
    private static String titanReference(Path work, List<String> args) {
        try {
            Path dir =
                    Files.createDirectories(work.resolve("references/titan-" + System.nanoTime()));
            List<String> cmd =
                    new ArrayList<>(
                            List.of(
                                    Repo.torchPython().toString(),
                                    "-m",
                                    "phoenix_torch.examples.titan_layout",
                                    "--checkpoint.folder",
                                    dir.resolve("checkpoint").toString(),
                                    "--checkpoint.interval",
                                    "5",
                                    "--checkpoint.keep_latest_k",
                                    "3"));
            cmd.addAll(args);
            ProcessBuilder pb =
                    new ProcessBuilder(cmd)
                            .redirectErrorStream(true)
                            .redirectOutput(dir.resolve("out.log").toFile());
            pb.environment().keySet().removeIf(e -> e.startsWith("PHOENIX_"));
            pb.environment().put("OMP_NUM_THREADS", "1");
            Process p = pb.start();
            if (!p.waitFor(5, TimeUnit.MINUTES) || p.exitValue() != 0) {
                p.destroyForcibly();
                throw new IllegalStateException("TorchTitan-layout reference failed: " + dir);
            }
            Matcher m = FINAL.matcher(Files.readString(dir.resolve("out.log")));
            if (!m.find()) {
                throw new IllegalStateException("no final digest in " + dir.resolve("out.log"));
            }
            return m.group(2);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }
}
