package dev.phoenix.trainer;

import static dev.phoenix.trainer.TrainerProcess.SMALL_MODEL;
import static dev.phoenix.trainer.TrainerProcess.args;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.phoenix.trainer.checkpoint.CheckpointReader;
import dev.phoenix.trainer.checkpoint.CheckpointStore;
import dev.phoenix.trainer.model.ModelSpec;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real SIGTERM to a trainer JVM: finish the step, emergency checkpoint, termination message, exit
 * 143.
 */
class SigtermTest {
    static final ModelSpec SPEC = new ModelSpec(32, 64, 2, 10);
    static final String[] LONG_RUN =
            args(
                    SMALL_MODEL,
                    "--steps",
                    "100000",
                    "--checkpoint-interval",
                    "0",
                    "--step-sleep-ms",
                    "20",
                    "--log-interval-seconds",
                    "0.2");

    @TempDir Path tmp;

    @Test
    void sigtermMidRunYieldsAValidEmergencyCheckpointOfTheExactState() throws Exception {
        Path ckpt = tmp.resolve("ckpt");
        TrainerProcess p =
                TrainerProcess.start(
                        tmp,
                        Map.of("PHOENIX_GRACE_SECONDS", "20"),
                        List.of(args(LONG_RUN, "--checkpoint-dir", ckpt.toString())));
        p.awaitLog("step 1/100000", 60);
        Thread.sleep(1500);
        p.process.destroy(); // SIGTERM
        TrainerProcess.Result r = p.await(60);
        assertThat(r.exitCode()).as(r.describe()).isEqualTo(143);
        assertThat(r.log()).contains("SIGTERM received").contains("checkpoint emergency step");
        JsonNode t = r.termination();
        assertThat(t.path("result").asText()).isEqualTo("Terminated");
        long step = t.path("step").asLong();
        assertThat(step).isGreaterThan(1);
        CheckpointReader.Loaded verified =
                new CheckpointReader().verify(new CheckpointStore(ckpt), step, SPEC);
        assertThat(t.path("digest").asText()).isEqualTo(verified.digest());
        assertThat(t.path("stateDigest").asText()).isEqualTo(verified.manifest().stateDigest());

        // The emergency checkpoint is the exact state an undisturbed run has at that step.
        Path other = tmp.resolve("reference");
        TrainerProcess.Result ref =
                TrainerProcess.run(
                        tmp,
                        args(
                                LONG_RUN,
                                "--step-sleep-ms",
                                "0",
                                "--checkpoint-dir",
                                other.toString(),
                                "--stop-at-step",
                                String.valueOf(step)));
        assertThat(ref.exitCode()).as(ref.describe()).isEqualTo(143);
        assertThat(ref.stateDigest()).isEqualTo(t.path("stateDigest").asText());
    }

    @Test
    void sigtermWithTooShortAGracePeriodSkipsTheCheckpoint() throws Exception {
        Path ckpt = tmp.resolve("ckpt-short");
        TrainerProcess p =
                TrainerProcess.start(
                        tmp,
                        Map.of(),
                        List.of(
                                args(
                                        LONG_RUN,
                                        "--checkpoint-dir",
                                        ckpt.toString(),
                                        "--grace-seconds",
                                        "0.5")));
        p.awaitLog("step 1/100000", 60);
        p.process.destroy();
        TrainerProcess.Result r = p.await(60);
        assertThat(r.exitCode()).as(r.describe()).isEqualTo(143);
        assertThat(r.log()).contains("no emergency checkpoint");
        assertThat(r.termination().path("result").asText()).isEqualTo("Terminated");
        assertThat(r.termination().has("digest")).isFalse();
        assertThat(new CheckpointStore(ckpt).committed()).isEmpty();
    }
}
