package dev.phoenix.operator.decide;

import dev.phoenix.api.v1alpha1.CheckpointSpec;
import dev.phoenix.api.v1alpha1.TrainingJob;
import dev.phoenix.api.v1alpha1.TrainingJobSpec;
import dev.phoenix.operator.observe.ObservedJob;
import dev.phoenix.operator.observe.PodOutcome;
import dev.phoenix.operator.observe.Report;
import dev.phoenix.operator.observe.WorkerView;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.PodTemplateSpecBuilder;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/**
 * Builds observations for decider tests and feeds each decision's status back, as the API server
 * would.
 */
final class Jobs {
    static final Instant T0 = Instant.parse("2026-11-23T10:00:00Z");

    final TrainingJob job;
    final List<WorkerView> workers = new ArrayList<>();
    Report report;
    Report.Progress progress;
    Report.Inventory inventory;
    Long resumedFrom;
    List<String> reportProblems = List.of();
    String reportVersion = "1";
    List<String> missingResources = List.of();
    List<TrainingJob> peers = List.of();
    Instant now = T0;

    Jobs(int replicas) {
        job = new TrainingJob();
        job.setMetadata(
                new ObjectMetaBuilder()
                        .withName("llm")
                        .withNamespace("ml")
                        .withGeneration(1L)
                        .withUid("uid-1")
                        .withResourceVersion("1")
                        .build());
        TrainingJobSpec spec = new TrainingJobSpec();
        spec.setReplicas(replicas);
        CheckpointSpec ckpt = new CheckpointSpec();
        ckpt.setPath("/ckpt");
        spec.setCheckpoint(ckpt);
        spec.setTemplate(
                new PodTemplateSpecBuilder()
                        .withNewSpec()
                        .addNewContainer()
                        .withName("trainer")
                        .withImage("phoenix/trainer:0.1.0")
                        .addNewVolumeMount()
                        .withName("ckpt")
                        .withMountPath("/ckpt")
                        .endVolumeMount()
                        .endContainer()
                        .addNewVolume()
                        .withName("ckpt")
                        .withNewPersistentVolumeClaim()
                        .withClaimName("ckpt")
                        .endPersistentVolumeClaim()
                        .endVolume()
                        .endSpec()
                        .build());
        job.setSpec(spec);
    }

    /** Decides, then applies the new status to the job like a successful status write. */
    Decision decide() {
        Decision d =
                Decider.decide(
                        new ObservedJob(
                                job,
                                List.copyOf(workers),
                                report,
                                progress,
                                inventory,
                                reportProblems,
                                missingResources,
                                peers,
                                reportVersion,
                                now));
        job.setStatus(d.status());
        return d;
    }

    Jobs pods(int attempt, PodOutcome.Kind kind) {
        workers.clear();
        for (int r = 0; r < job.getSpec().getReplicas(); r++) {
            workers.add(worker(r, attempt, PodOutcome.of(kind)));
        }
        return this;
    }

    Jobs set(int rank, PodOutcome outcome) {
        int attempt = workers.get(rank).attempt();
        workers.set(rank, worker(rank, attempt, outcome));
        return this;
    }

    static WorkerView worker(int rank, int attempt, PodOutcome outcome) {
        return new WorkerView("llm-worker-" + rank, rank, attempt, false, false, outcome, null);
    }

    Jobs checkpoint(long step, String timeline) {
        report =
                new Report(
                        step,
                        digest('d', step),
                        digest('5', step),
                        job.getStatus().getAttempt(),
                        timeline,
                        now.toString());
        return this;
    }

    /**
     * The trainer's inventory of the current attempt and timeline: these steps on disk, newest
     * first.
     */
    Jobs inventory(long... steps) {
        List<Report.Inventory.Entry> entries = new ArrayList<>();
        for (long step : steps) {
            entries.add(
                    new Report.Inventory.Entry(
                            step,
                            digest('d', step),
                            digest('5', step),
                            job.getStatus().getTimeline()));
        }
        inventory =
                new Report.Inventory(
                        job.getStatus().getTimeline(),
                        job.getStatus().getAttempt(),
                        "uid-1",
                        entries,
                        resumedFrom);
        return this;
    }

    /** The step the trainer reports its attempt actually resumed from (in the next inventory). */
    Jobs resumedFrom(long step) {
        resumedFrom = step;
        return this;
    }

    /** A digest in the trainer's format, distinct per step and kind. */
    static String digest(char kind, long step) {
        return "sha256:" + kind + String.format("%063x", step);
    }

    Jobs later(int seconds) {
        now = now.plusSeconds(seconds);
        return this;
    }

    /** Runs the gang: pods of the current attempt exist and run. */
    Decision running() {
        pods(job.getStatus().getAttempt(), PodOutcome.Kind.RUNNING);
        return decide();
    }

    /** Old gang gone: the next reconcile starts the next attempt. */
    Decision gone() {
        workers.clear();
        return decide();
    }

    static Action.CreateWorkers create(Decision d) {
        return d.actions().stream()
                .filter(a -> a instanceof Action.CreateWorkers)
                .map(a -> (Action.CreateWorkers) a)
                .findFirst()
                .orElseThrow(() -> new AssertionError("no CreateWorkers in " + d.actions()));
    }
}
