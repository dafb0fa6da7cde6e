package dev.phoenix.trainer;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.phoenix.trainer.checkpoint.Inventory;
import dev.phoenix.trainer.checkpoint.Json;
import dev.phoenix.trainer.report.ConfigMapStore;
import dev.phoenix.trainer.report.Reporter;
import dev.phoenix.trainer.report.Reports;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** Reporter logic against an in-memory ConfigMap with resourceVersion semantics. */
class ReporterTest {

    /**
     * Behaves like the API server for one ConfigMap: every write bumps resourceVersion, stale
     * writes get 409.
     */
    static final class FakeConfigMap implements ConfigMapStore {
        final Map<String, String> data = new HashMap<>();
        long resourceVersion = 1;
        boolean exists = true;
        final AtomicInteger conflictsToInject = new AtomicInteger();
        final AtomicInteger failuresToInject = new AtomicInteger();
        int puts;

        @Override
        public synchronized Optional<Snapshot> get() {
            return exists
                    ? Optional.of(
                            new Snapshot(new HashMap<>(data), String.valueOf(resourceVersion)))
                    : Optional.empty();
        }

        @Override
        public synchronized void put(Map<String, String> entries, String rv)
                throws ConflictException {
            puts++;
            if (failuresToInject.getAndUpdate(n -> Math.max(0, n - 1)) > 0) {
                throw new IllegalStateException("connection reset");
            }
            if (conflictsToInject.getAndUpdate(n -> Math.max(0, n - 1)) > 0) {
                resourceVersion++; // somebody else wrote in between
                data.put("other", "x" + resourceVersion);
            }
            if (!rv.equals(String.valueOf(resourceVersion))) {
                throw new ConflictException("the object has been modified");
            }
            data.putAll(entries);
            resourceVersion++;
        }

        @Override
        public String describe() {
            return "fake";
        }

        JsonNode json(String key) throws Exception {
            return Json.CANONICAL.readTree(data.get(key));
        }
    }

    static Reports.CheckpointReport report(long step, String timeline) {
        return new Reports.CheckpointReport(
                null,
                step,
                "sha256:d" + step,
                "sha256:s" + step,
                2,
                timeline,
                "2026-11-23T10:00:00Z");
    }

    final FakeConfigMap cm = new FakeConfigMap();
    final Reporter reporter =
            new Reporter(cm, Duration.ofSeconds(5), java.time.Clock.systemUTC(), 1);

    @Test
    void checkpointReportHasTheContractFields() throws Exception {
        assertThat(reporter.reportCheckpoint(report(40, "t1"), Duration.ofSeconds(5)))
                .isEqualTo(Reporter.Outcome.WRITTEN);
        JsonNode j = cm.json("checkpoint");
        assertThat(j.path("step").asLong()).isEqualTo(40);
        assertThat(j.path("digest").asText()).isEqualTo("sha256:d40");
        assertThat(j.path("stateDigest").asText()).isEqualTo("sha256:s40");
        assertThat(j.path("attempt").asInt()).isEqualTo(2);
        assertThat(j.path("timeline").asText()).isEqualTo("t1");
        assertThat(j.path("time").asText()).isEqualTo("2026-11-23T10:00:00Z");
        assertThat(j.has("result")).isFalse();
    }

    static Reports.CheckpointReport report(long step, String timeline, int attempt) {
        return new Reports.CheckpointReport(
                null,
                step,
                "sha256:d" + step,
                "sha256:s" + step,
                attempt,
                timeline,
                "2026-11-23T10:00:00Z");
    }

    @Test
    void aStepTheConfigMapClaimsButThisTrainerNeverWroteNeverSilencesIt() throws Exception {
        // Issue 12, item 2: a report of a step newer than anything on disk (same timeline) used to
        // make the
        // trainer skip its real checkpoints ("never report backwards"); the operator then fell back
        // to an old
        // step and valid newer checkpoints were moved aside.
        cm.data.put(
                "checkpoint",
                "{\"step\":900,\"digest\":\"sha256:x\",\"attempt\":2,\"timeline\":\"t1\"}");
        assertThat(reporter.reportCheckpoint(report(40, "t1"), Duration.ofSeconds(5)))
                .isEqualTo(Reporter.Outcome.WRITTEN);
        assertThat(cm.json("checkpoint").path("step").asLong()).isEqualTo(40);
        assertThat(reporter.reportCheckpoint(report(40, "t1"), Duration.ofSeconds(5)))
                .isEqualTo(Reporter.Outcome.SKIPPED);
    }

    @Test
    void aLateReportOfAnOlderAttemptNeverOverwritesANewerAttempts() throws Exception {
        reporter.reportCheckpoint(report(50, "t1", 3), Duration.ofSeconds(5));
        assertThat(reporter.reportCheckpoint(report(60, "t1", 2), Duration.ofSeconds(5)))
                .isEqualTo(Reporter.Outcome.SKIPPED);
        assertThat(cm.json("checkpoint").path("step").asLong()).isEqualTo(50);
        // A new timeline (rollback) may report a lower step.
        assertThat(reporter.reportCheckpoint(report(20, "t2", 1), Duration.ofSeconds(5)))
                .isEqualTo(Reporter.Outcome.WRITTEN);
        assertThat(cm.json("checkpoint").path("step").asLong()).isEqualTo(20);
    }

    @Test
    void aCheckpointKeyHeldByANewerAttemptStillLetsTheInventoryAndProgressThrough()
            throws Exception {
        // A bad value (here claiming attempt 7) holds the checkpoint key until the operator clears
        // it; meanwhile status must keep mirroring the disk, or a restart would resume from an
        // older step than the disk holds.
        cm.data.put(
                "checkpoint",
                "{\"step\":40,\"digest\":\"sha256:x\",\"attempt\":7,\"timeline\":\"t1\"}");
        Reports.Inventory inv =
                new Reports.Inventory(
                        "t1",
                        2,
                        "uid-1",
                        "2026-11-23T10:00:00Z",
                        List.of(new Inventory.Entry(60, "sha256:d60", "sha256:s60", "t1")),
                        null);
        assertThat(reporter.reportCheckpoint(report(60, "t1", 2), inv, Duration.ofSeconds(5)))
                .isEqualTo(Reporter.Outcome.WRITTEN);
        assertThat(cm.json("checkpoint").path("attempt").asInt()).isEqualTo(7);
        assertThat(cm.json("inventory").path("checkpoints").get(0).path("step").asLong())
                .isEqualTo(60);
        assertThat(cm.json("progress").path("step").asLong()).isEqualTo(60);
    }

    @Test
    void checkpointInventoryAndProgressAreWrittenInOneWrite() throws Exception {
        Reports.Inventory inv =
                new Reports.Inventory(
                        "t1",
                        2,
                        "uid-1",
                        "2026-11-23T10:00:00Z",
                        List.of(
                                new Inventory.Entry(40, "sha256:d40", "sha256:s40", "t1"),
                                new Inventory.Entry(30, "sha256:d30", "sha256:s30", "t1")),
                        null);
        assertThat(reporter.reportCheckpoint(report(40, "t1"), inv, Duration.ofSeconds(5)))
                .isEqualTo(Reporter.Outcome.WRITTEN);
        assertThat(cm.puts).isEqualTo(1);
        assertThat(cm.json("inventory").path("checkpoints").size()).isEqualTo(2);
        assertThat(cm.json("inventory").path("checkpoints").get(0).path("step").asLong())
                .isEqualTo(40);
        assertThat(cm.json("inventory").path("jobUid").asText()).isEqualTo("uid-1");
        // The operator accepts a checkpoint only when progress has reached it.
        assertThat(cm.json("progress").path("step").asLong()).isEqualTo(40);
        // After retention the inventory shrinks: it is rewritten even though the checkpoint key is
        // unchanged.
        Reports.Inventory after =
                new Reports.Inventory(
                        "t1",
                        2,
                        "uid-1",
                        "2026-11-23T10:00:05Z",
                        List.of(new Inventory.Entry(40, "sha256:d40", "sha256:s40", "t1")),
                        null);
        assertThat(reporter.reportInventory(after, Duration.ofSeconds(5)))
                .isEqualTo(Reporter.Outcome.WRITTEN);
        assertThat(cm.json("inventory").path("checkpoints").size()).isEqualTo(1);
        assertThat(reporter.reportInventory(after, Duration.ofSeconds(5)))
                .isEqualTo(Reporter.Outcome.SKIPPED);
    }

    @Test
    void retriesOnConflictWithAFreshResourceVersionAndKeepsOtherKeys() throws Exception {
        cm.data.put("progress", "{\"step\":30,\"attempt\":2,\"timeline\":\"t1\"}");
        cm.conflictsToInject.set(3);
        assertThat(reporter.reportCheckpoint(report(10, "t1"), Duration.ofSeconds(5)))
                .isEqualTo(Reporter.Outcome.WRITTEN);
        assertThat(cm.puts).isEqualTo(4);
        assertThat(cm.json("checkpoint").path("step").asLong()).isEqualTo(10);
        assertThat(cm.data).containsKey("other");
        assertThat(cm.json("progress").path("step").asLong()).isEqualTo(30);
    }

    @Test
    void retriesOnErrorsAndGivesUpAtTheDeadline() throws Exception {
        cm.failuresToInject.set(2);
        assertThat(reporter.reportCheckpoint(report(10, "t1"), Duration.ofSeconds(5)))
                .isEqualTo(Reporter.Outcome.WRITTEN);
        cm.failuresToInject.set(1_000_000);
        assertThat(reporter.reportCheckpoint(report(20, "t1"), Duration.ofMillis(200)))
                .isEqualTo(Reporter.Outcome.FAILED);
        assertThat(cm.json("checkpoint").path("step").asLong()).isEqualTo(10);
    }

    @Test
    void missingConfigMapIsNotFatal() {
        cm.exists = false;
        assertThat(reporter.reportCheckpoint(report(10, "t1"), Duration.ofSeconds(1)))
                .isEqualTo(Reporter.Outcome.FAILED);
    }

    @Test
    void progressNeverGoesBackWithinAnAttemptButANewAttemptMayRestartLower() throws Exception {
        String t = "2026-11-23T10:00:00Z";
        assertThat(
                        reporter.writeProgress(
                                new Reports.Progress(57, 1, "t1", t), Duration.ofSeconds(1)))
                .isEqualTo(Reporter.Outcome.WRITTEN);
        assertThat(
                        reporter.writeProgress(
                                new Reports.Progress(55, 1, "t1", t), Duration.ofSeconds(1)))
                .isEqualTo(Reporter.Outcome.SKIPPED);
        assertThat(
                        reporter.writeProgress(
                                new Reports.Progress(51, 2, "t1", t), Duration.ofSeconds(1)))
                .isEqualTo(Reporter.Outcome.WRITTEN);
        assertThat(
                        reporter.writeProgress(
                                new Reports.Progress(90, 1, "t1", t), Duration.ofSeconds(1)))
                .isEqualTo(Reporter.Outcome.SKIPPED);
        JsonNode j = cm.json("progress");
        assertThat(j.path("step").asLong()).isEqualTo(51);
        assertThat(j.path("attempt").asInt()).isEqualTo(2);
        assertThat(j.path("timeline").asText()).isEqualTo("t1");
        assertThat(j.path("time").asText()).isEqualTo(t);
    }

    @Test
    void progressIsRateLimited() throws Exception {
        for (int s = 1; s <= 100; s++) {
            reporter.progress(s, 1, "t1");
        }
        reporter.close(); // drains the queued report
        assertThat(cm.puts).isEqualTo(1);
        assertThat(cm.json("progress").path("step").asLong()).isEqualTo(1);
    }
}
