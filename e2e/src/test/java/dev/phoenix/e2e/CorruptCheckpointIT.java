package dev.phoenix.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import dev.phoenix.api.v1alpha1.CheckpointRecord;
import dev.phoenix.api.v1alpha1.TrainingJobStatus;
import io.fabric8.kubernetes.api.model.Pod;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A byte flipped in a tensor file of the latest checkpoint while the job is stopped: the trainer
 * refuses it (exit 65), Phoenix marks it invalid, falls back to the previous valid checkpoint and
 * the job still finishes with the exact state of an uninterrupted run.
 */
class CorruptCheckpointIT {

    @Test
    void corruptLatestCheckpointFallsBackToThePreviousValidOne() throws Exception {
        PhoenixStack s = E2e.stack();
        JobConfig cfg = JobConfig.small(1, 300).withStepSleepMs(40).withKeepLatest(5).withSeed(13);
        CompletableFuture<String> reference =
                ReferenceRuns.stateDigest(cfg, s.workDir().resolve("references"));
        String ns = s.controlPlane().createNamespace("corrupt");
        String name = "bitrot";
        E2e.create(s, ns, name, cfg);

        E2e.await(
                s,
                ns,
                name,
                Duration.ofMinutes(3),
                "past checkpoint 60",
                x -> E2e.checkpoint(x) >= 60);
        E2e.patchSpec(s, ns, name, "{\"suspend\":true}");
        TrainingJobStatus stopped =
                E2e.await(
                        s,
                        ns,
                        name,
                        Duration.ofMinutes(2),
                        "Suspended",
                        x -> "Suspended".equals(TrainingJobs.phase(x)));
        long latest = E2e.checkpoint(stopped);
        long previous =
                stopped.getCheckpoints().stream()
                        .filter(CheckpointRecord::usable)
                        .mapToLong(CheckpointRecord::getStep)
                        .filter(x -> x < latest)
                        .max()
                        .orElseThrow();
        Path dir = s.checkpointDir(ns, name).resolve(String.format("step-%010d", latest));
        Path tensor = dir.resolve("layer1.W.f32le");
        assertThat(tensor).exists();
        try (FileChannel ch =
                FileChannel.open(tensor, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            long at = ch.size() / 2;
            ByteBuffer b = ByteBuffer.allocate(1);
            ch.read(b, at);
            b.put(0, (byte) (b.get(0) ^ 0x01));
            b.rewind();
            ch.write(b, at);
            ch.force(true);
        }
        System.out.printf(
                "suspended with latest checkpoint %d (previous valid %d); flipped a bit of %s%n",
                latest, previous, tensor);

        // Watch where each attempt resumes from.
        Map<Integer, Long> resumes = new TreeMap<>();
        int suspendedAttempt = E2e.attempt(stopped);
        E2e.patchSpec(s, ns, name, "{\"suspend\":false}");
        TrainingJobStatus end =
                E2e.await(
                        s,
                        ns,
                        name,
                        Duration.ofMinutes(5),
                        "Succeeded",
                        x -> {
                            if (x.getCurrentAttempt() != null
                                    && x.getCurrentAttempt().getNumber() != null) {
                                resumes.put(
                                        x.getCurrentAttempt().getNumber(),
                                        x.getCurrentAttempt().getResumeStep());
                            }
                            return E2e.succeeded(x);
                        });
        System.out.println("attempts after unsuspend → resume step: " + resumes);

        assertThat(resumes)
                .as("first attempt after unsuspend tries the (corrupt) latest checkpoint")
                .containsEntry(suspendedAttempt + 1, latest);
        assertThat(end.getResumedFromStep())
                .as("the final attempt resumed from the previous valid checkpoint")
                .isEqualTo(previous);
        assertThat(end.getAttempt()).isEqualTo(suspendedAttempt + 2);
        CheckpointRecord bad =
                end.getCheckpoints().stream()
                        .filter(c -> c.getStep() == latest)
                        .findFirst()
                        .orElseThrow();
        assertThat(bad.getValid()).as("checkpoint %d marked invalid", latest).isFalse();
        assertThat(bad.getInvalidReason()).contains("layer1.W");
        assertThat(end.getFailures()).as("an invalid checkpoint is no program failure").isZero();
        List<Pod> last = TrainingJobs.pods(s.admin(), ns, name);
        assertThat(last)
                .allMatch(
                        p ->
                                String.valueOf(previous)
                                        .equals(TrainingJobs.env(p, "PHOENIX_RESUME_STEP")));
        String expected = reference.get(10, TimeUnit.MINUTES);
        assertThat(TrainingJobs.finalStateDigest(s.admin(), ns, name))
                .as("final stateDigest vs uninterrupted")
                .isEqualTo(expected);
        assertThat(E2e.auditor().violations()).isEmpty();
    }
}
