package dev.phoenix.operator.resume;

import dev.phoenix.api.v1alpha1.AttemptRecord;
import dev.phoenix.api.v1alpha1.CheckpointRecord;
import dev.phoenix.api.v1alpha1.TrainingJobSpec;
import dev.phoenix.api.v1alpha1.TrainingJobStatus;
import dev.phoenix.operator.status.Timelines;
import java.util.Comparator;
import java.util.List;

/**
 * The one place that decides where a gang (re)starts: step, pin and timeline, from the spec and the
 * status alone (whose {@code checkpoints} mirror the trainer's inventory of what is on disk). Pure;
 * the table of cases is {@code ResumePolicyTest}.
 *
 * <ol>
 *   <li>spec.resumeStep set or changed since it was last applied: exactly that step, pinned; a new
 *       timeline unless it is the job's first attempt.
 *   <li>the last attempt ended because its checkpoint was refused (and was not pinned: a pinned one
 *       fails the job instead): the newest valid checkpoint on disk older than the refused step, on
 *       a new timeline; from scratch if there is none.
 *   <li>otherwise: the newest valid checkpoint known, the reported latest or the newest on disk,
 *       whichever is newer, so that nothing valid newer than the chosen step is ever moved aside.
 * </ol>
 */
public final class ResumePolicy {
    public static final String INVALID_CHECKPOINT = "InvalidCheckpoint";

    private ResumePolicy() {}

    /** True when spec.resumeStep asks for a (re)start that has not happened yet. */
    public static boolean pinRequested(TrainingJobSpec spec, TrainingJobStatus status) {
        return spec.getResumeStep() != null
                && !spec.getResumeStep().equals(status.getAppliedResumeStep());
    }

    public static ResumePlan next(TrainingJobSpec spec, TrainingJobStatus status) {
        String timeline = status.getTimeline() == null ? Timelines.FIRST : status.getTimeline();
        boolean started = status.attemptOrZero() > 0;
        if (pinRequested(spec, status)) {
            return new ResumePlan(
                    spec.getResumeStep(),
                    true,
                    started ? Timelines.next(timeline) : timeline,
                    started,
                    ResumePlan.Cause.PINNED);
        }
        AttemptRecord last = status.getCurrentAttempt();
        if (last != null && INVALID_CHECKPOINT.equals(last.getEndReason())) {
            long refused = last.getResumeStep() == null ? 0 : last.getResumeStep();
            long fallback = newestUsable(status.getCheckpoints(), refused);
            return new ResumePlan(
                    fallback, false, Timelines.next(timeline), true, ResumePlan.Cause.FALLBACK);
        }
        CheckpointRecord latest = status.getLatestCheckpoint();
        // latestCheckpoint is always of the current line: a branch replaces it
        // (Decider.startAttempt).
        long fromLatest =
                latest != null && latest.usable() && latest.getStep() != null
                        ? latest.getStep()
                        : 0;
        long fromDisk = newestUsable(status.getCheckpoints(), Long.MAX_VALUE);
        return new ResumePlan(
                Math.max(Math.max(fromLatest, fromDisk), 0),
                false,
                timeline,
                false,
                ResumePlan.Cause.LATEST);
    }

    /** The newest valid checkpoint of the inventory mirror older than {@code below} (0 = none). */
    static long newestUsable(List<CheckpointRecord> checkpoints, long below) {
        if (checkpoints == null) {
            return 0;
        }
        return checkpoints.stream()
                .filter(CheckpointRecord::usable)
                .map(CheckpointRecord::getStep)
                .filter(step -> step != null && step > 0 && step < below)
                .max(Comparator.naturalOrder())
                .orElse(0L);
    }
}
