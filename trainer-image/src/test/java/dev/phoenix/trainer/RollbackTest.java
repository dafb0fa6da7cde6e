package dev.phoenix.trainer;

import static dev.phoenix.trainer.TrainerProcess.SMALL_MODEL;
import static dev.phoenix.trainer.TrainerProcess.args;
import static org.assertj.core.api.Assertions.assertThat;

import dev.phoenix.trainer.checkpoint.CheckpointStore;
import dev.phoenix.trainer.checkpoint.Json;
import dev.phoenix.trainer.checkpoint.Manifest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A rollback to an older step followed by new training moves the abandoned timeline's newer
 * directories (and leftover .tmp dirs) aside, so a stale newer directory can never be resumed from.
 */
class RollbackTest {
    static final String[] RUN =
            args(
                    SMALL_MODEL,
                    "--steps",
                    "60",
                    "--checkpoint-interval",
                    "10",
                    "--checkpoint-keep",
                    "0");

    @TempDir Path tmp;

    private Manifest manifest(Path dir) throws Exception {
        return Json.CANONICAL.readValue(dir.resolve(Manifest.FILE).toFile(), Manifest.class);
    }

    @Test
    void rollbackNeverResumesFromAStaleNewerDirectory() throws Exception {
        Path ckpt = tmp.resolve("ckpt");
        CheckpointStore store = new CheckpointStore(ckpt);
        String[] base = args(RUN, "--checkpoint-dir", ckpt.toString());

        TrainerProcess.Result first =
                TrainerProcess.run(tmp, args(base, "--timeline", "t1", "--stop-at-step", "45"));
        assertThat(first.exitCode()).as(first.describe()).isEqualTo(143);
        assertThat(store.committed().keySet()).containsExactly(10L, 20L, 30L, 40L, 45L);
        String t1Step30 = manifest(store.stepDir(30)).stateDigest();
        Path leftover = ckpt.resolve("step-0000000050.tmp-deadbeef");
        Files.createDirectories(leftover);
        Files.write(leftover.resolve("layer0.W.f32le"), new byte[12]);

        // The operator rolls back to step 20 on a new timeline.
        TrainerProcess.Result second =
                TrainerProcess.run(
                        tmp,
                        args(
                                base,
                                "--timeline",
                                "t2",
                                "--attempt",
                                "2",
                                "--resume-step",
                                "20",
                                "--stop-at-step",
                                "35"));
        assertThat(second.exitCode()).as(second.describe()).isEqualTo(143);
        assertThat(store.committed().keySet()).containsExactly(10L, 20L, 30L, 35L);
        assertThat(manifest(store.stepDir(30)).timeline()).isEqualTo("t2");
        assertThat(manifest(store.stepDir(30)).attempt()).isEqualTo(2);
        // Replaying steps 21..30 reproduced t1's step 30 exactly.
        assertThat(manifest(store.stepDir(30)).stateDigest()).isEqualTo(t1Step30);
        try (Stream<Path> s = Files.walk(ckpt.resolve(CheckpointStore.ABANDONED), 2)) {
            assertThat(
                            s.map(
                                    p ->
                                            ckpt.resolve(CheckpointStore.ABANDONED)
                                                    .relativize(p)
                                                    .toString()
                                                    .replaceAll("_[0-9T.Z]+", "_*")))
                    .contains(
                            "t1_*/step-0000000030",
                            "t1_*/step-0000000040",
                            "t1_*/step-0000000045",
                            "uncommitted_*/step-0000000050.tmp-deadbeef");
        }
        assertThat(leftover).doesNotExist();

        // Asking for the abandoned timeline's step 40 fails cleanly (exit 65) instead of using a
        // stale directory.
        TrainerProcess.Result stale =
                TrainerProcess.run(
                        tmp,
                        args(base, "--timeline", "t2", "--attempt", "3", "--resume-step", "40"));
        assertThat(stale.exitCode()).as(stale.describe()).isEqualTo(65);
        assertThat(stale.termination().path("result").asText()).isEqualTo("CheckpointInvalid");
        assertThat(stale.termination().path("message").asText())
                .contains("step-0000000040: no such checkpoint directory");
        assertThat(store.committed().keySet()).containsExactly(10L, 20L, 30L, 35L);

        TrainerProcess.Result last =
                TrainerProcess.run(
                        tmp,
                        args(base, "--timeline", "t2", "--attempt", "4", "--resume-step", "35"));
        assertThat(last.exitCode()).as(last.describe()).isEqualTo(0);
        assertThat(manifest(store.stepDir(60)).timeline()).isEqualTo("t2");
        assertThat(manifest(store.stepDir(60)).stateDigest()).isEqualTo(last.stateDigest());
    }
}
