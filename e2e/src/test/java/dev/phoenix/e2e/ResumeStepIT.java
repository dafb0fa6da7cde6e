package dev.phoenix.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import dev.phoenix.api.v1alpha1.TrainingJobStatus;
import io.fabric8.kubernetes.api.model.Pod;
import java.nio.file.Files;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * {@code kubectl patch tj … resumeStep} restarts every rank of the gang from exactly that step on a
 * new timeline; since training is deterministic, the job still ends bit-identical to an
 * uninterrupted run.
 */
class ResumeStepIT {

    @Test
    void kubectlPatchResumeStepRestartsAllRanksFromThatStep() throws Exception {
        PhoenixStack s = E2e.stack();
        JobConfig cfg = JobConfig.small(2, 300).withStepSleepMs(40).withKeepLatest(20).withSeed(11);
        CompletableFuture<String> reference =
                ReferenceRuns.stateDigest(cfg, s.workDir().resolve("references"));
        String ns = s.controlPlane().createNamespace("resume");
        String name = "rewind";
        E2e.create(s, ns, name, cfg);

        TrainingJobStatus before =
                E2e.await(
                        s,
                        ns,
                        name,
                        Duration.ofMinutes(3),
                        "past checkpoint 100",
                        x -> E2e.checkpoint(x) >= 100 && "Running".equals(TrainingJobs.phase(x)));
        assertThat(E2e.step(before)).isGreaterThan(40L);
        assertThat(Files.isDirectory(s.checkpointDir(ns, name).resolve("step-0000000040")))
                .as("step 40 on disk")
                .isTrue();
        int oldAttempt = E2e.attempt(before);
        String out = E2e.patchSpec(s, ns, name, "{\"resumeStep\":40}");
        System.out.println(
                "kubectl patch: "
                        + out.strip()
                        + " (job was at step "
                        + E2e.step(before)
                        + ", checkpoint "
                        + E2e.checkpoint(before)
                        + ", attempt "
                        + oldAttempt
                        + ")");

        int next = oldAttempt + 1;
        TrainingJobStatus rewound =
                E2e.await(
                        s,
                        ns,
                        name,
                        Duration.ofMinutes(2),
                        "rewound to step 40",
                        x ->
                                E2e.attempt(x) == next
                                        && TrainingJobs.runningPods(s.admin(), ns, name, next)
                                                        .size()
                                                == cfg.replicas());
        assertThat(rewound.getResumedFromStep()).isEqualTo(40L);
        assertThat(rewound.getCurrentAttempt().getResumeStep()).isEqualTo(40L);
        assertThat(rewound.getTimeline()).as("a new timeline").isEqualTo("t2");
        List<Pod> gang =
                TrainingJobs.pods(s.admin(), ns, name).stream()
                        .filter(p -> TrainingJobs.attemptOf(p) == next)
                        .toList();
        assertThat(gang).extracting(TrainingJobs::rankOf).containsExactlyInAnyOrder(0, 1);
        for (Pod p : gang) {
            assertThat(TrainingJobs.env(p, "PHOENIX_RESUME_STEP"))
                    .as(p.getMetadata().getName() + " PHOENIX_RESUME_STEP")
                    .isEqualTo("40");
            assertThat(TrainingJobs.env(p, "PHOENIX_TIMELINE"))
                    .as(p.getMetadata().getName() + " PHOENIX_TIMELINE")
                    .isEqualTo("t2");
        }
        assertThat(TrainingJobs.pods(s.admin(), ns, name))
                .as("no pod of the old attempt is left")
                .allMatch(p -> TrainingJobs.attemptOf(p) == next);

        TrainingJobStatus end =
                E2e.await(s, ns, name, Duration.ofMinutes(4), "Succeeded", E2e::succeeded);
        Pod rank0 =
                TrainingJobs.pods(s.admin(), ns, name).stream()
                        .filter(p -> TrainingJobs.rankOf(p) == 0)
                        .findFirst()
                        .orElseThrow();
        String log = s.log(rank0, "trainer");
        assertThat(log)
                .as("rank 0 log of attempt " + next)
                .contains("resumed from step-0000000040");
        assertThat(end.getAttempt()).isEqualTo(next);
        assertThat(end.getFailures()).isZero();
        String expected = reference.get(10, TimeUnit.MINUTES);
        assertThat(TrainingJobs.finalStateDigest(s.admin(), ns, name))
                .as("final stateDigest vs uninterrupted")
                .isEqualTo(expected);
        assertThat(E2e.auditor().violations()).isEmpty();
    }
}
