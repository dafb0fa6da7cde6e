package dev.phoenix.operator.observe;

import dev.phoenix.api.v1alpha1.TrainingJob;
import java.time.Instant;
import java.util.List;
import java.util.Optional;

/**
 * Everything the decision needs, gathered once per reconcile from the informer caches: the job, its
 * worker pods (of every attempt, classified), and the trainer's latest reports.
 */
public record ObservedJob(TrainingJob job, List<WorkerView> workers, Report checkpointReport,
        Report.Progress progress, Instant now) {

    public List<WorkerView> workersOfAttempt(int attempt) {
        return workers.stream().filter(w -> w.attempt() == attempt).toList();
    }

    public Optional<WorkerView> worker(int attempt, int rank) {
        return workers.stream().filter(w -> w.attempt() == attempt && w.rank() == rank).findFirst();
    }
}
