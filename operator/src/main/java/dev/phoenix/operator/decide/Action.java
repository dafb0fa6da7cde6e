package dev.phoenix.operator.decide;

import java.util.List;

/** What the act step must do after the new status is persisted (see DeleteWorkers.withStatus). */
public sealed interface Action {
    /**
     * Create the given ranks of an attempt (the whole gang on a start; only the missing ranks while
     * the attempt is still Pending). {@code wholeGang}: confirm with the API server first that no
     * pod of an earlier attempt is left. {@code createResources}: create the Service, report
     * ConfigMap and trainer identity first (the first attempt, or one of them is missing; later
     * attempts find them in place and send no create that answers 409). {@code resumeStep} 0 means
     * from scratch.
     */
    record CreateWorkers(
            int attempt,
            long resumeStep,
            boolean exactStep,
            String timeline,
            List<Integer> ranks,
            boolean wholeGang,
            boolean createResources)
            implements Action {}

    /**
     * Delete worker pods with their grace period; {@code force} (grace 0) for pods whose node is
     * gone. {@code withStatus}: sent together with the status write instead of after it (the one
     * exception to "after the new status is persisted"): only when the platform disrupted a pod of
     * the attempt the status names and every target belongs to that attempt. Such a gang cannot go
     * on whatever the write answers (its collective lost a rank), and a retry after a failed write
     * finds its pods deleting and decides the same single preemption (a deleting pod counts as
     * preempted, never as failed).
     */
    record DeleteWorkers(List<Target> targets, boolean withStatus) implements Action {
        public DeleteWorkers(List<Target> targets) {
            this(targets, false);
        }

        /** A pod by name, with its attempt label (to tell it from a later pod of that name). */
        public record Target(String name, int attempt, boolean force) {}
    }

    /**
     * Recreate owned objects (Service, report ConfigMap, trainer identity) that disappeared; never
     * touches pods.
     */
    record EnsureResources(java.util.List<String> missing) implements Action {}

    /**
     * Remove report keys whose values were rejected on two looks in a row from the report
     * ConfigMap, only if it is still at {@code resourceVersion}: a rejected value is never
     * believed, and left in place it could hold back the trainer's next report (the trainer leaves
     * a newer attempt's report alone).
     */
    record ClearReportKeys(List<String> keys, String resourceVersion) implements Action {}

    /**
     * ttlSecondsAfterFinished has passed: delete the job; owner references take everything else.
     */
    record DeleteJob() implements Action {}
}
