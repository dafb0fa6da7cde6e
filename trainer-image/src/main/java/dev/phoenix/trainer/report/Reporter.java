package dev.phoenix.trainer.report;

import com.fasterxml.jackson.databind.JsonNode;
import dev.phoenix.trainer.checkpoint.Json;
import java.time.Clock;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Writes checkpoint reports and progress into the report ConfigMap: read-modify-write of one key
 * with the resourceVersion read (retry on 409 conflicts, back off on other errors), never moving
 * {@code checkpoint} backwards within a timeline and never letting progress of an older attempt or
 * a lower step of the same attempt overwrite newer progress. Progress is rate-limited and sent from
 * a background thread, so a slow API server never stalls training; checkpoint reports are
 * synchronous with a deadline.
 */
public final class Reporter implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Reporter.class);

    public enum Outcome {
        WRITTEN,
        SKIPPED,
        FAILED
    }

    private final ConfigMapStore store;
    private final Clock clock;
    private final Duration progressInterval;
    private final ExecutorService progressExecutor;
    private final AtomicReference<Reports.Progress> pendingProgress = new AtomicReference<>();
    private volatile long lastProgressNanos = Long.MIN_VALUE;
    private final long backoffMillis;

    public Reporter(ConfigMapStore store, Duration progressInterval) {
        this(store, progressInterval, Clock.systemUTC(), 100);
    }

    public Reporter(
            ConfigMapStore store, Duration progressInterval, Clock clock, long backoffMillis) {
        this.store = store;
        this.clock = clock;
        this.progressInterval = progressInterval;
        this.backoffMillis = backoffMillis;
        this.progressExecutor =
                Executors.newSingleThreadExecutor(
                        r -> {
                            Thread t = new Thread(r, "progress-reporter");
                            t.setDaemon(true);
                            return t;
                        });
    }

    public String now() {
        return clock.instant().truncatedTo(java.time.temporal.ChronoUnit.SECONDS).toString();
    }

    /**
     * Reports a committed and verified checkpoint; returns once written, skipped or out of time.
     */
    public Outcome reportCheckpoint(Reports.CheckpointReport report, Duration timeout) {
        return reportCheckpoint(report, null, timeout);
    }

    /**
     * Reports a committed and verified checkpoint together with the inventory of what is on disk,
     * and progress at least at that step, in one write: the operator accepts a checkpoint report
     * only if the inventory written with it lists it and progress has reached it.
     *
     * <p>This trainer's own knowledge wins over what the ConfigMap says: only a report of a
     * <em>newer attempt</em> of the same timeline is left alone. A step the ConfigMap claims but
     * the disk does not hold must never keep the trainer from reporting its real checkpoints.
     */
    public Outcome reportCheckpoint(
            Reports.CheckpointReport report, Reports.Inventory inventory, Duration timeout) {
        Reports.CheckpointReport body = report.withResult(null);
        Reports.Progress progress =
                new Reports.Progress(report.step(), report.attempt(), report.timeline(), now());
        Outcome o =
                write(
                        existing -> {
                            Map<String, String> out = new LinkedHashMap<>();
                            JsonNode old = parse(existing.get(Reports.CHECKPOINT_KEY));
                            boolean newerAttempt =
                                    old != null
                                            && report.timeline()
                                                    .equals(old.path("timeline").asText())
                                            && old.path("attempt").asInt(0) > report.attempt();
                            if (newerAttempt) {
                                // The checkpoint key only: the inventory and progress have their
                                // own attempt rules, and keeping them current keeps status true to
                                // the disk while the key is held (by a bad value, until the
                                // operator clears it).
                                log.info(
                                        "not reporting checkpoint {}: {} holds a report of attempt {} of timeline {}",
                                        report.step(),
                                        store.describe(),
                                        old.path("attempt").asInt(),
                                        report.timeline());
                            }
                            boolean same =
                                    old != null
                                            && report.timeline()
                                                    .equals(old.path("timeline").asText())
                                            && old.path("step").asLong(-1) == report.step()
                                            && report.digest().equals(old.path("digest").asText())
                                            && old.path("attempt").asInt(0) == report.attempt();
                            if (!same && !newerAttempt) {
                                out.put(Reports.CHECKPOINT_KEY, Json.write(body));
                            }
                            if (inventory != null
                                    && inventoryShouldWrite(
                                            existing.get(Reports.INVENTORY_KEY), inventory)) {
                                out.put(Reports.INVENTORY_KEY, Json.write(inventory));
                            }
                            if (progressShouldWrite(existing.get(Reports.PROGRESS_KEY), progress)) {
                                out.put(Reports.PROGRESS_KEY, Json.write(progress));
                            }
                            return out;
                        },
                        timeout);
        if (o == Outcome.WRITTEN) {
            log.info("reported checkpoint step {} to {}", report.step(), store.describe());
        }
        return o;
    }

    /** Reports the inventory alone (after a start's aside-move, or after retention). */
    public Outcome reportInventory(Reports.Inventory inventory, Duration timeout) {
        return write(
                existing ->
                        inventoryShouldWrite(existing.get(Reports.INVENTORY_KEY), inventory)
                                ? Map.of(Reports.INVENTORY_KEY, Json.write(inventory))
                                : Map.of(),
                timeout);
    }

    private static boolean inventoryShouldWrite(String existing, Reports.Inventory inventory) {
        JsonNode old = parse(existing);
        if (old == null || !inventory.timeline().equals(old.path("timeline").asText())) {
            return true;
        }
        if (old.path("attempt").asInt(0) > inventory.attempt()) {
            return false; // a newer attempt of this timeline knows better
        }
        // Rewritten only when something changed (the time alone does not count).
        return old.path("attempt").asInt(0) != inventory.attempt()
                || !Json.write(old.path("checkpoints")).equals(Json.write(inventory.checkpoints()));
    }

    private static boolean progressShouldWrite(String existing, Reports.Progress p) {
        JsonNode old = parse(existing);
        if (old == null || !p.timeline().equals(old.path("timeline").asText())) {
            return true;
        }
        int oldAttempt = old.path("attempt").asInt(0);
        if (oldAttempt != p.attempt()) {
            return oldAttempt < p.attempt();
        }
        return old.path("step").asLong(-1) < p.step();
    }

    /** Queues a progress report if the last one is at least the progress interval old. */
    public void progress(long step, int attempt, String timeline) {
        long nowNanos = System.nanoTime();
        if (lastProgressNanos != Long.MIN_VALUE
                && nowNanos - lastProgressNanos < progressInterval.toNanos()) {
            return;
        }
        lastProgressNanos = nowNanos;
        if (pendingProgress.getAndSet(new Reports.Progress(step, attempt, timeline, now()))
                == null) {
            progressExecutor.execute(
                    () -> {
                        Reports.Progress p = pendingProgress.getAndSet(null);
                        if (p != null) {
                            writeProgress(p, Duration.ofSeconds(10));
                        }
                    });
        }
    }

    /** Writes a progress report now (synchronously); visible for tests. */
    public Outcome writeProgress(Reports.Progress p, Duration timeout) {
        return write(
                existing ->
                        progressShouldWrite(existing.get(Reports.PROGRESS_KEY), p)
                                ? Map.of(Reports.PROGRESS_KEY, Json.write(p))
                                : Map.of(),
                timeout);
    }

    /** From the ConfigMap's current data, the keys to write (none: skip). */
    interface Plan {
        Map<String, String> entries(Map<String, String> existing);
    }

    private Outcome write(Plan plan, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        int tries = 0;
        long backoff = backoffMillis;
        while (true) {
            tries++;
            try {
                Optional<ConfigMapStore.Snapshot> snap = store.get();
                if (snap.isEmpty()) {
                    log.warn("{} does not exist; report not written", store.describe());
                    return Outcome.FAILED;
                }
                Map<String, String> entries = plan.entries(snap.get().data());
                if (entries.isEmpty()) {
                    return Outcome.SKIPPED;
                }
                store.put(entries, snap.get().resourceVersion());
                return Outcome.WRITTEN;
            } catch (ConfigMapStore.ConflictException e) {
                log.debug("conflict writing the report (try {}), re-reading", tries);
            } catch (Exception e) {
                log.warn(
                        "writing the report to {} failed (try {}): {}",
                        store.describe(),
                        tries,
                        e.toString());
                sleep(Math.min(backoff, Math.max(0, (deadline - System.nanoTime()) / 1_000_000)));
                backoff = Math.min(backoff * 2, 2000);
            }
            if (System.nanoTime() >= deadline) {
                log.error("giving up reporting to {} after {} tries", store.describe(), tries);
                return Outcome.FAILED;
            }
        }
    }

    private static JsonNode parse(String s) {
        if (s == null || s.isBlank()) {
            return null;
        }
        try {
            return Json.CANONICAL.readTree(s);
        } catch (Exception e) {
            return null;
        }
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Lets a queued progress report finish (bounded), then stops the background thread. */
    @Override
    public void close() {
        progressExecutor.shutdown();
        try {
            progressExecutor.awaitTermination(2, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (store instanceof AutoCloseable c) {
            try {
                c.close();
            } catch (Exception ignored) {
                // closing the client is best effort
            }
        }
    }
}
