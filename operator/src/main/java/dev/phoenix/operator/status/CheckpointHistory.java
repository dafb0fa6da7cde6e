package dev.phoenix.operator.status;

import dev.phoenix.api.v1alpha1.CheckpointRecord;
import dev.phoenix.api.v1alpha1.TrainingJobStatus;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * The checkpoints a job's status knows: {@code latestCheckpoint} and {@code checkpoints}, the
 * mirror of the trainer's inventory of what is on disk (newest first, bounded), plus a few entries
 * found invalid so they are never used again. Entries that retention deleted or a timeline change
 * moved aside leave the mirror with the next inventory (docs/design.md, "Checkpoint truth and
 * safety").
 */
public final class CheckpointHistory {
    /**
     * The trainer's inventory bound; small enough that status stays far below etcd's object limit.
     */
    public static final int LIMIT = 20;

    /** Invalid entries kept besides the inventory. */
    static final int INVALID_LIMIT = 5;

    private CheckpointHistory() {}

    /**
     * Accepts a validated checkpoint report of the current timeline: moves the latest checkpoint
     * forward (never backwards, never to a checkpoint marked invalid) and lists it until the next
     * inventory.
     *
     * @return true if status changed
     */
    public static boolean accept(TrainingJobStatus status, CheckpointRecord report) {
        if (report == null || !Objects.equals(report.getTimeline(), status.getTimeline())) {
            return false;
        }
        CheckpointRecord latest = status.getLatestCheckpoint();
        if (latest != null
                && latest.getStep() != null
                && report.getStep() <= latest.getStep()
                && latest.usable()) {
            return false;
        }
        if (isKnownInvalid(status, report)) {
            return false;
        }
        status.setLatestCheckpoint(report.copy());
        List<CheckpointRecord> history = history(status);
        history.removeIf(r -> Objects.equals(r.getStep(), report.getStep()));
        history.add(report.copy());
        normalise(history);
        return true;
    }

    /**
     * Replaces the valid entries with the trainer's inventory (already validated, newest first).
     * Invalid markers stay; an inventory entry that matches one (same step and digest) stays
     * invalid.
     */
    public static void mirror(TrainingJobStatus status, List<CheckpointRecord> inventory) {
        List<CheckpointRecord> history = history(status);
        List<CheckpointRecord> invalid = history.stream().filter(r -> !r.usable()).toList();
        List<CheckpointRecord> next = new ArrayList<>(invalid);
        for (CheckpointRecord r : inventory) {
            boolean bad =
                    invalid.stream()
                            .anyMatch(
                                    i ->
                                            Objects.equals(i.getStep(), r.getStep())
                                                    && (i.getDigest() == null
                                                            || Objects.equals(
                                                                    i.getDigest(), r.getDigest())));
            if (!bad) {
                next.add(r.copy());
            }
        }
        history.clear();
        history.addAll(next);
        normalise(history);
        // What is on disk is the truth: a newer verified checkpoint than the reported latest is the
        // latest.
        Optional<CheckpointRecord> newest =
                history.stream().filter(CheckpointRecord::usable).findFirst();
        CheckpointRecord latest = status.getLatestCheckpoint();
        if (newest.isPresent()
                && (latest == null
                        || latest.getStep() == null
                        || !latest.usable()
                        || newest.get().getStep() > latest.getStep())) {
            status.setLatestCheckpoint(newest.get().copy());
        }
    }

    /**
     * A new timeline branches at {@code step}: the trainer moves everything newer aside, status
     * forgets it.
     */
    public static void branch(TrainingJobStatus status, long step) {
        history(status).removeIf(r -> r.usable() && r.getStep() != null && r.getStep() > step);
    }

    private static boolean isKnownInvalid(TrainingJobStatus status, CheckpointRecord report) {
        return history(status).stream()
                .anyMatch(
                        r ->
                                !r.usable()
                                        && Objects.equals(r.getStep(), report.getStep())
                                        && (r.getDigest() == null
                                                || Objects.equals(
                                                        r.getDigest(), report.getDigest())));
    }

    /** Records that the trainer found checkpoint {@code step} missing or invalid. */
    public static void markInvalid(
            TrainingJobStatus status, long step, String timeline, String reason) {
        List<CheckpointRecord> history = history(status);
        boolean found = false;
        for (CheckpointRecord r : history) {
            if (Objects.equals(r.getStep(), step)) {
                r.setValid(false);
                r.setInvalidReason(reason);
                found = true;
            }
        }
        if (!found) {
            CheckpointRecord r = new CheckpointRecord();
            r.setStep(step);
            r.setTimeline(timeline);
            r.setValid(false);
            r.setInvalidReason(reason);
            history.add(r);
        }
        normalise(history);
        CheckpointRecord latest = status.getLatestCheckpoint();
        if (latest != null && Objects.equals(latest.getStep(), step)) {
            latest.setValid(false);
            latest.setInvalidReason(reason);
        }
    }

    /**
     * A known valid record for a step (on disk as far as the last inventory knows), used when a
     * user pins a step.
     */
    public static Optional<CheckpointRecord> find(TrainingJobStatus status, long step) {
        return history(status).stream()
                .filter(r -> r.getStep() != null && r.getStep() == step)
                .filter(CheckpointRecord::usable)
                .findFirst();
    }

    /** Newest first; at most {@link #INVALID_LIMIT} invalid and {@link #LIMIT} entries in all. */
    private static void normalise(List<CheckpointRecord> history) {
        history.sort(
                Comparator.comparing(
                        CheckpointRecord::getStep,
                        Comparator.nullsLast(Comparator.reverseOrder())));
        int invalid = 0;
        for (int i = 0; i < history.size(); i++) {
            if (!history.get(i).usable() && ++invalid > INVALID_LIMIT) {
                history.remove(i--);
            }
        }
        while (history.size() > LIMIT) {
            int victim = history.size() - 1;
            for (int i = history.size() - 1; i >= 0; i--) {
                if (history.get(i).usable()) {
                    victim = i;
                    break;
                }
            }
            history.remove(victim);
        }
    }

    private static List<CheckpointRecord> history(TrainingJobStatus status) {
        if (status.getCheckpoints() == null) {
            status.setCheckpoints(new ArrayList<>());
        }
        return status.getCheckpoints();
    }
}
