package dev.phoenix.operator.observe;

import dev.phoenix.api.v1alpha1.TrainingJob;
import java.time.Instant;
import java.util.List;
import java.util.Optional;

/**
 * Everything the decision needs, gathered once per reconcile from the informer caches: the job, its
 * worker pods (of every attempt, classified), the trainer's latest reports (with what was wrong
 * with any that could not even be read), the owned objects that are missing, and the other live
 * jobs that use a checkpoint location.
 *
 * @param reportProblems reports refused before parsing (too large, not JSON), each naming the key
 * @param missingResources kinds/names of owned objects (Service, report ConfigMap, trainer
 *     identity) not found
 * @param peers the other TrainingJobs of the namespace, for the one-job-per-checkpoint-location
 *     rule
 * @param reportVersion resourceVersion of the report ConfigMap the reports were read from (null
 *     when it does not exist), so that a rejected key is removed only from exactly what was judged
 */
public record ObservedJob(
        TrainingJob job,
        List<WorkerView> workers,
        Report checkpointReport,
        Report.Progress progress,
        Report.Inventory inventory,
        List<String> reportProblems,
        List<String> missingResources,
        List<TrainingJob> peers,
        String reportVersion,
        Instant now) {

    public ObservedJob(
            TrainingJob job,
            List<WorkerView> workers,
            Report checkpointReport,
            Report.Progress progress,
            Instant now) {
        this(
                job,
                workers,
                checkpointReport,
                progress,
                null,
                List.of(),
                List.of(),
                List.of(),
                null,
                now);
    }

    public List<WorkerView> workersOfAttempt(int attempt) {
        return workers.stream().filter(w -> w.attempt() == attempt).toList();
    }

    public Optional<WorkerView> worker(int attempt, int rank) {
        return workers.stream().filter(w -> w.attempt() == attempt && w.rank() == rank).findFirst();
    }
}
