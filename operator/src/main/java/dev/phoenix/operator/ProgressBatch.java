package dev.phoenix.operator;

import dev.phoenix.api.v1alpha1.TrainingJob;
import dev.phoenix.operator.observe.PodUpdates;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.javaoperatorsdk.operator.processing.event.source.EventSource;
import io.javaoperatorsdk.operator.processing.event.source.timer.TimerEventSource;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Workers coming up ({@link PodUpdates.Effect#PROGRESS}) reach their job's reconcile once per
 * {@link PodUpdates#PROGRESS_BATCH}: the first such update of a job schedules a reconcile that
 * late, the ones after it wait for that one. A reconcile that starts for any other reason reads
 * them all from the cache (the informer updates its store before it calls the filter), so the
 * window starts again after it.
 */
final class ProgressBatch extends TimerEventSource<TrainingJob> {
    /** Jobs with a batched reconcile scheduled and not yet started. */
    private final Set<ResourceID> scheduled = ConcurrentHashMap.newKeySet();

    ProgressBatch() {
        super("progress", false);
    }

    /**
     * A worker of the job came up.
     *
     * @return false when no reconcile could be scheduled (the source is not running yet): the
     *     update must then go through as it is
     */
    boolean progressed(ResourceID job) {
        if (!isRunning()) {
            return false;
        }
        if (scheduled.add(job)) {
            scheduleOnce(job, PodUpdates.PROGRESS_BATCH.toMillis());
        }
        return true;
    }

    /** A reconcile of the job starts: it sees every update so far. */
    void reconciling(ResourceID job) {
        scheduled.remove(job);
    }

    /**
     * JOSDK's timer source is typed for any primary ({@code EventSource<Void, HasMetadata>}); the
     * reconciler's list is of TrainingJob's sources.
     */
    @SuppressWarnings({"unchecked", "rawtypes"})
    EventSource<?, TrainingJob> asEventSource() {
        return (EventSource) this;
    }

    @Override
    public void onResourceDeleted(TrainingJob job) {
        scheduled.remove(ResourceID.fromResource(job));
        super.onResourceDeleted(job);
    }
}
