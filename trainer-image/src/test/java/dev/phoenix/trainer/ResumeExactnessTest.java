package dev.phoenix.trainer;

import static dev.phoenix.trainer.TrainerProcess.SMALL_MODEL;
import static dev.phoenix.trainer.TrainerProcess.args;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.phoenix.trainer.checkpoint.CheckpointStore;
import dev.phoenix.trainer.checkpoint.Json;
import dev.phoenix.trainer.checkpoint.Manifest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.TreeSet;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The promise: a run interrupted k times at random steps, each resume in a fresh JVM, ends with the
 * same stateDigest (all weights, Adam moments, iteration, schedule, data cursor, RNG) as the
 * uninterrupted run. Some resumes go back to an older periodic checkpoint on a new timeline (what
 * the operator does after an invalid checkpoint), which replays steps and moves newer directories
 * aside.
 */
class ResumeExactnessTest {
    static final int STEPS = 60;
    static final String[] RUN =
            args(
                    SMALL_MODEL,
                    "--steps",
                    String.valueOf(STEPS),
                    "--checkpoint-interval",
                    "10",
                    "--checkpoint-keep",
                    "3");

    @TempDir static Path tmp;
    static String uninterrupted;

    @BeforeAll
    static void baseline() throws Exception {
        Path dir = tmp.resolve("baseline");
        Files.createDirectories(dir);
        TrainerProcess.Result r =
                TrainerProcess.run(
                        dir, args(RUN, "--checkpoint-dir", dir.resolve("ckpt").toString()));
        assertThat(r.exitCode()).as(r.describe()).isEqualTo(0);
        assertThat(r.termination().path("result").asText()).isEqualTo("Succeeded");
        assertThat(r.termination().path("step").asLong()).isEqualTo(STEPS);
        uninterrupted = r.stateDigest();
        assertThat(uninterrupted).startsWith("sha256:");
        assertThat(r.log()).contains("final step " + STEPS + " stateDigest " + uninterrupted);
    }

    @ParameterizedTest(name = "interrupted {0} times")
    @ValueSource(ints = {1, 2, 3, 10})
    void interruptedRunEndsBitIdentical(int k) throws Exception {
        Random random = new Random(4242L * k);
        TreeSet<Integer> stops = new TreeSet<>();
        while (stops.size() < k) {
            stops.add(1 + random.nextInt(STEPS - 1));
        }
        Path dir = tmp.resolve("k" + k);
        Path ckpt = dir.resolve("ckpt");
        Files.createDirectories(dir);
        CheckpointStore store = new CheckpointStore(ckpt);
        long resume = -1;
        int timeline = 1;
        int attempt = 1;
        List<String> history = new ArrayList<>();
        List<Manifest> firstAndLast = new ArrayList<>();
        for (int stop : stops) {
            TrainerProcess.Result r =
                    TrainerProcess.run(
                            dir,
                            args(
                                    RUN,
                                    "--checkpoint-dir",
                                    ckpt.toString(),
                                    "--resume-step",
                                    String.valueOf(resume),
                                    "--attempt",
                                    String.valueOf(attempt),
                                    "--timeline",
                                    "t" + timeline,
                                    "--stop-at-step",
                                    String.valueOf(stop)));
            assertThat(r.exitCode())
                    .as("attempt %d (%s): %s", attempt, history, r.describe())
                    .isEqualTo(143);
            JsonNode t = r.termination();
            assertThat(t.path("result").asText()).isEqualTo("Terminated");
            assertThat(t.path("step").asLong()).isEqualTo(stop);
            assertThat(t.path("digest").asText()).startsWith("sha256:");
            assertThat(t.path("timeline").asText()).isEqualTo("t" + timeline);
            Manifest m =
                    Json.CANONICAL.readValue(
                            store.stepDir(stop).resolve(Manifest.FILE).toFile(), Manifest.class);
            assertThat(m.attempt()).isEqualTo(attempt);
            if (attempt == 1 || attempt == 10) {
                firstAndLast.add(m);
            }
            // Every third resume rolls back to the newest periodic checkpoint before the stop, on a
            // new timeline.
            long older = (stop - 1) / 10 * 10;
            if (attempt % 3 == 0 && older > 0 && store.committed().containsKey(older)) {
                resume = older;
                timeline++;
            } else {
                resume = stop;
            }
            history.add("stop@" + stop + "->resume@" + resume + "/t" + timeline);
            attempt++;
        }
        TrainerProcess.Result last =
                TrainerProcess.run(
                        dir,
                        args(
                                RUN,
                                "--checkpoint-dir",
                                ckpt.toString(),
                                "--resume-step",
                                String.valueOf(resume),
                                "--attempt",
                                String.valueOf(attempt),
                                "--timeline",
                                "t" + timeline));
        assertThat(last.exitCode()).as(last.describe()).isEqualTo(0);
        assertThat(last.stateDigest()).as("stateDigest after %s", history).isEqualTo(uninterrupted);
        if (k == 10) {
            assertThat(firstAndLast).hasSize(2);
            assertThat(keys(firstAndLast.get(1))).isEqualTo(keys(firstAndLast.get(0)));
        }
    }

    private static List<String> keys(Manifest m) {
        return m.tensors().stream()
                .map(
                        t ->
                                t.name()
                                        + " "
                                        + t.file()
                                        + " "
                                        + t.dtype()
                                        + " "
                                        + java.util.Arrays.toString(t.shape()))
                .toList();
    }
}
