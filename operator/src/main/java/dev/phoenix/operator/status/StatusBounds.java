package dev.phoenix.operator.status;

import dev.phoenix.api.v1alpha1.AttemptRecord;
import dev.phoenix.api.v1alpha1.CheckpointRecord;
import dev.phoenix.api.v1alpha1.Condition;
import dev.phoenix.api.v1alpha1.TrainingJobStatus;
import java.util.List;

/**
 * Bounds every field of status, whatever a report, a pod or a user put into the strings it came
 * from, so that no input can make a status write too large for etcd (issue 12: a 900 KiB report
 * value once failed every status write). Applied to every decision before it is written.
 */
public final class StatusBounds {
    public static final int MESSAGE = 1024;
    public static final int REASON = 128;
    public static final int SHORT = 80;
    public static final int CONDITIONS = 16;

    private StatusBounds() {}

    public static TrainingJobStatus apply(TrainingJobStatus s) {
        s.setTimeline(cut(s.getTimeline(), SHORT));
        s.setStartTime(cut(s.getStartTime(), SHORT));
        s.setCompletionTime(cut(s.getCompletionTime(), SHORT));
        bound(s.getLatestCheckpoint());
        if (s.getCheckpoints() != null) {
            while (s.getCheckpoints().size()
                    > CheckpointHistory.LIMIT + CheckpointHistory.INVALID_LIMIT) {
                s.getCheckpoints().remove(s.getCheckpoints().size() - 1);
            }
            s.getCheckpoints().forEach(StatusBounds::bound);
        }
        AttemptRecord a = s.getCurrentAttempt();
        if (a != null) {
            a.setTimeline(cut(a.getTimeline(), SHORT));
            a.setSpecHash(cut(a.getSpecHash(), SHORT));
            a.setStartTime(cut(a.getStartTime(), SHORT));
            a.setEndTime(cut(a.getEndTime(), SHORT));
            a.setEndReason(cut(a.getEndReason(), REASON));
            a.setEndMessage(cut(a.getEndMessage(), MESSAGE));
        }
        List<Condition> conditions = s.getConditions();
        if (conditions != null) {
            while (conditions.size() > CONDITIONS) {
                conditions.remove(conditions.size() - 1);
            }
            for (Condition c : conditions) {
                c.setType(cut(c.getType(), REASON));
                c.setReason(cut(c.getReason(), REASON));
                c.setMessage(cut(c.getMessage(), MESSAGE));
                c.setLastTransitionTime(cut(c.getLastTransitionTime(), SHORT));
            }
        }
        return s;
    }

    private static void bound(CheckpointRecord r) {
        if (r == null) {
            return;
        }
        r.setDigest(cut(r.getDigest(), SHORT));
        r.setStateDigest(cut(r.getStateDigest(), SHORT));
        r.setTimeline(cut(r.getTimeline(), SHORT));
        r.setTime(cut(r.getTime(), SHORT));
        r.setInvalidReason(cut(r.getInvalidReason(), MESSAGE));
    }

    /** At most {@code max} characters; a cut string says so. */
    public static String cut(String v, int max) {
        if (v == null || v.length() <= max) {
            return v;
        }
        return v.substring(0, max - 3) + "...";
    }
}
