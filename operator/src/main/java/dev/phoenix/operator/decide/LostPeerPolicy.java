package dev.phoenix.operator.decide;

import dev.phoenix.api.v1alpha1.AttemptRecord;
import dev.phoenix.operator.observe.PodOutcome;
import dev.phoenix.operator.observe.WorkerView;
import java.util.List;
import java.util.Optional;
import java.util.function.BiConsumer;

/**
 * When a node dies, the ranks elsewhere notice first: their collective breaks at once, while the
 * platform's word on the dead node's pods (the taint manager's {@code DisruptionTarget}, PodGC's)
 * comes only after the node monitor's grace period, 20 s or more later. Counting the first rank
 * that exits as a failure would count a preemption as a crash, the failure Phoenix exists to
 * prevent.
 *
 * <p>So a rank whose trainer says {@code PeerLost} ends the attempt (the gang must restart either
 * way) without counting anything. Its cause is settled while the old gang goes away, and never
 * later than when the last old pod is gone (a pod on a dead node goes only once the platform has
 * given its word):
 *
 * <ul>
 *   <li>a worker of the attempt turns out preempted by the platform (DisruptionTarget, a platform
 *       status reason, its node gone): one preemption;
 *   <li>the old gang is gone and none was: one failure (a peer vanished with no platform cause: a
 *       crash).
 * </ul>
 *
 * A deletion Phoenix itself made during the teardown ({@code DeletedExternally}) is no evidence
 * either way.
 */
final class LostPeerPolicy {
    /** The attempt's end reason while its cause is open; also the event reason. */
    static final String REASON = "PeerLost";

    private LostPeerPolicy() {}

    static boolean lostPeer(PodOutcome outcome) {
        return outcome.kind() == PodOutcome.Kind.FAILED
                && PodOutcome.PEER_LOST.equals(outcome.reason());
    }

    /**
     * Settles an attempt that ended with a lost peer, if its cause is known now: calls {@code
     * preemption(pod, outcome)} or {@code failure(pod, why)} (each records the attempt's end anew).
     * Returns true when it settled.
     */
    static boolean settle(
            BiConsumer<String, PodOutcome> preemption,
            BiConsumer<String, String> failure,
            AttemptRecord attempt,
            List<WorkerView> workersOfAttempt,
            boolean gangGone) {
        if (attempt == null || !REASON.equals(attempt.getEndReason())) {
            return false;
        }
        Optional<WorkerView> preempted =
                workersOfAttempt.stream()
                        .filter(w -> w.outcome().kind() == PodOutcome.Kind.PREEMPTED)
                        .filter(w -> !"DeletedExternally".equals(w.outcome().reason()))
                        .findFirst();
        if (preempted.isPresent()) {
            preemption.accept(preempted.get().name(), preempted.get().outcome());
            return true;
        }
        if (gangGone) {
            String message = attempt.getEndMessage() == null ? "" : attempt.getEndMessage();
            int colon = message.indexOf(": ");
            failure.accept(
                    colon > 0 ? message.substring(0, colon) : "a worker",
                    (colon > 0 ? message.substring(colon + 2) : message)
                            + "; no worker of the attempt was preempted by the platform");
            return true;
        }
        return false;
    }
}
