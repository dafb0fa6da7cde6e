package dev.phoenix.operator.status;

import dev.phoenix.api.v1alpha1.CheckpointRecord;
import dev.phoenix.api.v1alpha1.TrainingJobStatus;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * The checkpoints a job's status knows: {@code latestCheckpoint} (what the next attempt resumes from)
 * and a bounded history, newest first, that keeps invalid entries so they are never used again.
 */
public final class CheckpointHistory {
    /** Enough to fall back several times; small enough that status stays far below etcd's object limit. */
    public static final int LIMIT = 20;

    private CheckpointHistory() {}

    /**
     * Accepts a trainer report if it belongs to the current timeline and moves the latest checkpoint
     * forward; never backwards, never to a checkpoint already marked invalid.
     *
     * @return true if status changed
     */
    public static boolean accept(TrainingJobStatus status, CheckpointRecord report) {
        if (report == null || !Objects.equals(report.getTimeline(), status.getTimeline())) {
            return false;
        }
        CheckpointRecord latest = status.getLatestCheckpoint();
        if (latest != null && latest.getStep() != null && report.getStep() <= latest.getStep()) {
            return false;
        }
        if (isKnownInvalid(status, report)) {
            return false;
        }
        status.setLatestCheckpoint(report.copy());
        List<CheckpointRecord> history = history(status);
        history.removeIf(r -> Objects.equals(r.getStep(), report.getStep())
                && Objects.equals(r.getTimeline(), report.getTimeline()));
        history.add(0, report.copy());
        history.sort(Comparator.comparing(CheckpointRecord::getStep, Comparator.nullsLast(Comparator.reverseOrder())));
        while (history.size() > LIMIT) {
            // Drop the oldest valid entry first: invalid ones are what keeps a bad step from being retried.
            int victim = history.size() - 1;
            for (int i = history.size() - 1; i >= 0; i--) {
                if (history.get(i).usable()) { victim = i; break; }
            }
            history.remove(victim);
        }
        return true;
    }

    private static boolean isKnownInvalid(TrainingJobStatus status, CheckpointRecord report) {
        return history(status).stream().anyMatch(r -> !r.usable() && Objects.equals(r.getStep(), report.getStep())
                && Objects.equals(r.getDigest(), report.getDigest()));
    }

    /** Records that the trainer found checkpoint {@code step} missing or invalid. */
    public static void markInvalid(TrainingJobStatus status, long step, String timeline, String reason) {
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
            history.add(0, r);
        }
        CheckpointRecord latest = status.getLatestCheckpoint();
        if (latest != null && Objects.equals(latest.getStep(), step)) {
            latest.setValid(false);
            latest.setInvalidReason(reason);
        }
    }

    /**
     * The newest valid checkpoint older than {@code step} that the current line of training can resume
     * from: one of the current timeline, or one at or before the step the timeline branched from.
     * Training is deterministic from step 0, so a step on the trunk is the same state on every branch.
     */
    public static Optional<CheckpointRecord> fallbackBefore(TrainingJobStatus status, long step, Long branchStep) {
        return history(status).stream()
                .filter(CheckpointRecord::usable)
                .filter(r -> r.getStep() != null && r.getStep() < step && r.getStep() > 0)
                .filter(r -> Objects.equals(r.getTimeline(), status.getTimeline())
                        || (branchStep != null && r.getStep() <= branchStep))
                .max(Comparator.comparing(CheckpointRecord::getStep));
    }

    /** A known valid record for a step (any timeline), used when a user pins a step. */
    public static Optional<CheckpointRecord> find(TrainingJobStatus status, long step) {
        return history(status).stream().filter(r -> r.getStep() != null && r.getStep() == step)
                .filter(CheckpointRecord::usable).findFirst();
    }

    private static List<CheckpointRecord> history(TrainingJobStatus status) {
        if (status.getCheckpoints() == null) {
            status.setCheckpoints(new ArrayList<>());
        }
        return status.getCheckpoints();
    }
}
