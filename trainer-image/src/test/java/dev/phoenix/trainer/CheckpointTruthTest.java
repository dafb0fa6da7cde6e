package dev.phoenix.trainer;

import static dev.phoenix.trainer.TrainerProcess.SMALL_MODEL;
import static dev.phoenix.trainer.TrainerProcess.args;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.phoenix.trainer.checkpoint.CheckpointReader;
import dev.phoenix.trainer.checkpoint.CheckpointStore;
import dev.phoenix.trainer.checkpoint.Inventory;
import dev.phoenix.trainer.checkpoint.Json;
import dev.phoenix.trainer.checkpoint.Manifest;
import dev.phoenix.trainer.config.TrainerConfig;
import dev.phoenix.trainer.model.ModelSpec;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What is on the volume is the truth (docs/design.md, "Checkpoint truth and safety"): the trainer
 * reports the inventory of committed, verified checkpoints still on disk, a directory belongs to
 * one job, and an operator-supplied resume step the trainer cannot reach is a refused checkpoint
 * (65), not bad usage.
 */
class CheckpointTruthTest {
    static final ModelSpec SPEC = new ModelSpec(32, 64, 2, 10);

    @TempDir Path tmp;

    static List<Long> steps(JsonNode inventory) {
        List<Long> out = new ArrayList<>();
        inventory.path("checkpoints").forEach(c -> out.add(c.path("step").asLong()));
        return out;
    }

    @Test
    void theInventoryReportedAfterRetentionListsExactlyWhatIsOnDisk() throws Exception {
        Path dir = tmp.resolve("ckpt");
        ReporterTest.FakeConfigMap cm = new ReporterTest.FakeConfigMap();
        TrainerConfig cfg =
                TrainerConfig.parse(
                        Map.of(),
                        args(
                                SMALL_MODEL,
                                "--steps",
                                "10",
                                "--checkpoint-interval",
                                "2",
                                "--checkpoint-keep",
                                "2",
                                "--checkpoint-dir",
                                dir.toString(),
                                "--report-configmap",
                                "job-report",
                                "--job-uid",
                                "uid-a",
                                "--termination-log",
                                tmp.resolve("t.json").toString()));
        cfg.validate();
        assertThat(new Trainer(cfg, new StopSignal(), cm).run()).isEqualTo(0);

        assertThat(new CheckpointStore(dir).committed().keySet()).containsExactly(8L, 10L);
        JsonNode inventory = cm.json("inventory");
        assertThat(steps(inventory)).containsExactly(10L, 8L);
        assertThat(inventory.path("timeline").asText()).isEqualTo("t1");
        assertThat(inventory.path("jobUid").asText()).isEqualTo("uid-a");
        String digest10 =
                new CheckpointReader().verify(new CheckpointStore(dir), 10, SPEC).digest();
        assertThat(inventory.path("checkpoints").get(0).path("digest").asText())
                .isEqualTo(digest10);
        assertThat(cm.json("checkpoint").path("step").asLong()).isEqualTo(10);
        // Every manifest names its job.
        Manifest m =
                Json.CANONICAL.readValue(
                        dir.resolve(CheckpointStore.dirName(10)).resolve(Manifest.FILE).toFile(),
                        Manifest.class);
        assertThat(m.jobUid()).isEqualTo("uid-a");
        assertThat(m.job()).isEqualTo("default/local");
    }

    @Test
    void theInventoryLeavesOutDamagedAndMovedAsideCheckpoints() throws Exception {
        Path dir = tmp.resolve("inv");
        assertThat(
                        Main.run(
                                false,
                                Map.of(),
                                args(
                                        SMALL_MODEL,
                                        "--steps",
                                        "8",
                                        "--checkpoint-interval",
                                        "2",
                                        "--checkpoint-keep",
                                        "0",
                                        "--checkpoint-dir",
                                        dir.toString(),
                                        "--termination-log",
                                        tmp.resolve("t.json").toString())))
                .isEqualTo(0);
        CheckpointStore store = new CheckpointStore(dir);
        Inventory inventory = new Inventory(store, new CheckpointReader(), SPEC);
        assertThat(inventory.current())
                .extracting(Inventory.Entry::step)
                .containsExactly(8L, 6L, 4L, 2L);

        Path tensor;
        try (var files = Files.list(store.stepDir(4))) {
            tensor =
                    files.filter(f -> !f.getFileName().toString().equals(Manifest.FILE))
                            .findFirst()
                            .orElseThrow();
        }
        try (RandomAccessFile raf = new RandomAccessFile(tensor.toFile(), "rw")) {
            raf.setLength(raf.length() - 4);
        }
        // A trainer verifies what it first sees; damage is then found when a resume loads it (exit
        // 65).
        assertThat(new Inventory(store, new CheckpointReader(), SPEC).current())
                .extracting(Inventory.Entry::step)
                .containsExactly(8L, 6L, 2L);
        store.moveAsideNewerThan(6);
        assertThat(inventory.current())
                .extracting(Inventory.Entry::step)
                .containsExactly(6L, 4L, 2L);
    }

    @Test
    void aDirectoryHoldingAnotherJobsCheckpointsIsRefusedAndLeftUntouched() throws Exception {
        Path dir = tmp.resolve("shared");
        assertThat(
                        Main.run(
                                false,
                                Map.of(),
                                args(
                                        SMALL_MODEL,
                                        "--steps",
                                        "4",
                                        "--checkpoint-interval",
                                        "2",
                                        "--checkpoint-dir",
                                        dir.toString(),
                                        "--job-name",
                                        "first",
                                        "--job-uid",
                                        "uid-first",
                                        "--termination-log",
                                        tmp.resolve("a.json").toString())))
                .isEqualTo(0);
        var before = new CheckpointStore(dir).committed().keySet();

        Path term = tmp.resolve("b.json");
        int code =
                Main.run(
                        false,
                        Map.of(),
                        args(
                                SMALL_MODEL,
                                "--steps",
                                "8",
                                "--checkpoint-interval",
                                "2",
                                "--checkpoint-dir",
                                dir.toString(),
                                "--job-name",
                                "second",
                                "--job-uid",
                                "uid-second",
                                "--termination-log",
                                term.toString()));
        assertThat(code).isEqualTo(65);
        JsonNode t = Json.CANONICAL.readTree(term.toFile());
        assertThat(t.path("result").asText()).isEqualTo("CheckpointDirectoryInUse");
        assertThat(t.path("message").asText())
                .contains("default/first")
                .contains("uid-first")
                .contains("default/second");
        assertThat(new CheckpointStore(dir).committed().keySet()).isEqualTo(before);
        assertThat(dir.resolve(CheckpointStore.ABANDONED)).doesNotExist();
    }

    /** Runs the trainer in-process on {@code dir}; returns its exit code. */
    private int train(Path dir, ReporterTest.FakeConfigMap cm, String... more) throws Exception {
        TrainerConfig cfg =
                TrainerConfig.parse(
                        Map.of(),
                        args(
                                args(
                                        SMALL_MODEL,
                                        "--steps",
                                        "10",
                                        "--checkpoint-interval",
                                        "2",
                                        "--checkpoint-keep",
                                        "0",
                                        "--checkpoint-dir",
                                        dir.toString(),
                                        "--report-configmap",
                                        "job-report",
                                        "--job-uid",
                                        "uid-a",
                                        "--termination-log",
                                        tmp.resolve("t-" + System.nanoTime() + ".json").toString()),
                                more));
        cfg.validate();
        return new Trainer(cfg, new StopSignal(), cm).run();
    }

    /** Attempt 2 as the operator starts it when it knows only step 4: not an exact step. */
    private int resumeFromLatestKnown4(Path dir, ReporterTest.FakeConfigMap cm) throws Exception {
        return train(dir, cm, "--attempt", "2", "--resume-step", "4", "--resume-exact", "false");
    }

    private static String finalStateDigest(ReporterTest.FakeConfigMap cm) throws Exception {
        return cm.json("checkpoint").path("stateDigest").asText();
    }

    @Test
    void aNewerCheckpointOfTheTimelineWhoseReportNeverArrivedIsResumedFromNotMovedAside()
            throws Exception {
        // ChaosIT (CI, 2026-12-03): a report held back kept status at an old step while the disk
        // held newer committed checkpoints; the restart from the old step moved them aside, and a
        // late report then listed them, so the next restarts refused three missing checkpoints in a
        // row. With the operator's step only "the newest it knows of", the trainer resumes from the
        // newest verified checkpoint of the same timeline instead.
        ReporterTest.FakeConfigMap reference = new ReporterTest.FakeConfigMap();
        assertThat(train(tmp.resolve("reference"), reference)).isEqualTo(0);

        Path dir = tmp.resolve("ckpt");
        ReporterTest.FakeConfigMap cm = new ReporterTest.FakeConfigMap();
        assertThat(train(dir, cm, "--stop-at-step", "8")).isEqualTo(143);
        assertThat(new CheckpointStore(dir).committed().keySet()).containsExactly(2L, 4L, 6L, 8L);

        // The operator knows only step 4 (the reports of 6 and 8 never reached it).
        assertThat(resumeFromLatestKnown4(dir, cm)).isEqualTo(0);
        assertThat(dir.resolve(CheckpointStore.ABANDONED)).doesNotExist();
        assertThat(cm.json("inventory").path("resumedFrom").asLong()).isEqualTo(8);
        assertThat(finalStateDigest(cm)).isEqualTo(finalStateDigest(reference));
    }

    @Test
    void aNewerCheckpointThatFailsVerificationIsSkippedAndMovedAside() throws Exception {
        Path dir = tmp.resolve("ckpt");
        ReporterTest.FakeConfigMap cm = new ReporterTest.FakeConfigMap();
        assertThat(train(dir, cm, "--stop-at-step", "8")).isEqualTo(143);
        Path tensor =
                Files.list(dir.resolve(CheckpointStore.dirName(8)))
                        .filter(f -> !f.getFileName().toString().equals(Manifest.FILE))
                        .findFirst()
                        .orElseThrow();
        try (RandomAccessFile f = new RandomAccessFile(tensor.toFile(), "rw")) {
            f.seek(3);
            int b = f.read();
            f.seek(3);
            f.write(b ^ 0x01);
        }
        assertThat(resumeFromLatestKnown4(dir, cm)).isEqualTo(0);
        assertThat(cm.json("inventory").path("resumedFrom").asLong()).isEqualTo(6);
        // The damaged 8 was moved aside, never loaded; 8 and 10 were written again by this attempt.
        assertThat(Files.list(dir.resolve(CheckpointStore.ABANDONED)).toList()).hasSize(1);
    }

    @Test
    void anExactResumeStepStillMovesNewerCheckpointsAside() throws Exception {
        // A pinned step or a fallback (a new timeline): exactly that step, the newer ones go aside.
        Path dir = tmp.resolve("ckpt");
        ReporterTest.FakeConfigMap cm = new ReporterTest.FakeConfigMap();
        assertThat(train(dir, cm, "--stop-at-step", "8")).isEqualTo(143);
        assertThat(
                        train(
                                dir,
                                cm,
                                "--attempt",
                                "2",
                                "--timeline",
                                "t2",
                                "--resume-step",
                                "4",
                                "--stop-at-step",
                                "5"))
                .isEqualTo(143);
        assertThat(cm.json("inventory").path("resumedFrom").asLong()).isEqualTo(4);
        assertThat(new CheckpointStore(dir).committed().keySet()).containsExactly(2L, 4L, 5L);
    }

    @Test
    void aResumeStepBeyondTheTotalStepsIsARefusedCheckpointNotBadUsage() throws Exception {
        // Issue 12, item 4: this exited 2 (bad usage) and the operator counted it as a program
        // failure.
        Path term = tmp.resolve("beyond.json");
        int code =
                Main.run(
                        false,
                        Map.of(),
                        args(
                                SMALL_MODEL,
                                "--steps",
                                "6",
                                "--checkpoint-dir",
                                tmp.resolve("none").toString(),
                                "--resume-step",
                                "999999",
                                "--termination-log",
                                term.toString()));
        assertThat(code).isEqualTo(65);
        JsonNode t = Json.CANONICAL.readTree(term.toFile());
        assertThat(t.path("result").asText()).isEqualTo("CheckpointInvalid");
        assertThat(t.path("step").asLong()).isEqualTo(999999);
        assertThat(t.path("message").asText()).contains("beyond").contains("--steps 6");
    }

    @Test
    void sigtermWhileTheGangFormsEndsTheTrainerBeforeItTrains() throws Exception {
        // Issue 12, item 8: rank 0 waiting for a peer that never comes ignored SIGTERM for the
        // whole
        // rendezvous timeout and would then have trained.
        Map<String, String> env =
                Map.of(
                        "PHOENIX_RANK",
                        "0",
                        "PHOENIX_WORLD_SIZE",
                        "2",
                        "MASTER_ADDR",
                        "127.0.0.1",
                        "MASTER_PORT",
                        String.valueOf(MultiRankTest.freePort("127.0.0.1")));
        TrainerProcess p =
                TrainerProcess.start(
                        tmp,
                        env,
                        List.of(
                                args(
                                        SMALL_MODEL,
                                        "--steps",
                                        "100",
                                        "--checkpoint-dir",
                                        tmp.resolve("gang").toString(),
                                        "--rendezvous-timeout-seconds",
                                        "600")));
        p.awaitLog("listening", 60);
        p.process.destroy(); // SIGTERM
        TrainerProcess.Result r = p.await(60);
        assertThat(r.exitCode()).as(r.describe()).isEqualTo(143);
        assertThat(r.log()).contains("before training began").doesNotContain("step 1/100");
        assertThat(r.termination().path("result").asText()).isEqualTo("Terminated");
    }
}
