package dev.phoenix.operator.observe;

import dev.phoenix.operator.observe.PodOutcome.Kind;
import io.fabric8.kubernetes.api.model.Pod;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.function.Predicate;

/**
 * What a worker pod's update means for its job's reconcile: the pod informer's update filter. A
 * large gang's start is a thousand updates (binds, status), and every reconcile walks the whole
 * gang: a reconcile per update kept one core of the operator busy for the whole start, beside the
 * control plane it waits for.
 */
public final class PodUpdates {
    /** How an update reaches the job's reconcile. */
    public enum Effect {
        /** The decision's view of the pod is unchanged: no reconcile. */
        NONE,
        /**
         * A worker came up (pending → running), nothing else changed: no action can follow from it,
         * only status (the gang running). Batched: one reconcile per {@link #PROGRESS_BATCH}.
         */
        PROGRESS,
        /** Anything else (a disruption, an exit, a deletion, a node): reconcile now. */
        DECIDE
    }

    /**
     * One reconcile per job per second for workers coming up, as the Kubernetes Job controller
     * batches a job's pod updates ({@code syncJobBatchPeriod}, 1 s). The status says the gang runs
     * at most this much later; disruptions are never batched.
     */
    public static final Duration PROGRESS_BATCH = Duration.ofSeconds(1);

    private PodUpdates() {}

    /**
     * @param nodeCached whether the node cache holds a node (always true where nodes are not
     *     watched); a node it does not hold is a change: the reconcile confirms it with the API
     *     server
     * @param deleteSent whether this process sent a delete for a pod
     */
    public static Effect of(
            Pod oldPod, Pod newPod, Predicate<String> nodeCached, Predicate<Pod> deleteSent) {
        for (Pod p : List.of(oldPod, newPod)) {
            String node = p.getSpec() == null ? null : p.getSpec().getNodeName();
            if (node != null && !nodeCached.test(node)) {
                return Effect.DECIDE;
            }
        }
        WorkerView before = JobObserver.view(oldPod, node -> true, deleteSent);
        WorkerView after = JobObserver.view(newPod, node -> true, deleteSent);
        if (before == null || after == null) {
            return Effect.DECIDE;
        }
        if (before.equals(after)) {
            return Effect.NONE;
        }
        return cameUp(before, after) ? Effect.PROGRESS : Effect.DECIDE;
    }

    /** The same worker, pending before and running now, and nothing else about it changed. */
    private static boolean cameUp(WorkerView before, WorkerView after) {
        return before.outcome().kind() == Kind.PENDING
                && after.outcome().kind() == Kind.RUNNING
                && before.name().equals(after.name())
                && before.rank() == after.rank()
                && before.attempt() == after.attempt()
                && !before.deleting()
                && !after.deleting()
                && !before.nodeGone()
                && !after.nodeGone()
                && Objects.equals(before.terminationReport(), after.terminationReport());
    }
}
