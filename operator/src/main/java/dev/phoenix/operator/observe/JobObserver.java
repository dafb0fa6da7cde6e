package dev.phoenix.operator.observe;

import dev.phoenix.api.v1alpha1.TrainingJob;
import dev.phoenix.operator.Names;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.Pod;
import java.time.Clock;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;
import java.util.function.Predicate;

/**
 * The observe step: builds an {@link ObservedJob} from the informer caches. It reads, never writes, and
 * sends no request to the API server unless asked for a fresh report (see {@link #observe}).
 */
public final class JobObserver {
    /** Lists a job's pods from the pod informer cache. */
    public interface PodLister extends Function<TrainingJob, List<Pod>> {}

    private final PodLister pods;
    private final Function<TrainingJob, Optional<ConfigMap>> cachedReport;
    private final Predicate<String> nodeExists;
    private final Clock clock;

    public JobObserver(PodLister pods, Function<TrainingJob, Optional<ConfigMap>> cachedReport,
            Predicate<String> nodeExists, Clock clock) {
        this.pods = pods;
        this.cachedReport = cachedReport;
        this.nodeExists = nodeExists;
        this.clock = clock;
    }

    /**
     * @param freshReport when present, used instead of the cached report ConfigMap: the reconciler reads
     *                    it live right before starting an attempt, so a report written during the old
     *                    gang's termination is never missed because of cache lag
     */
    public ObservedJob observe(TrainingJob job, Optional<ConfigMap> freshReport) {
        List<WorkerView> workers = new ArrayList<>();
        for (Pod pod : pods.apply(job)) {
            Map<String, String> labels = pod.getMetadata().getLabels();
            Integer rank = parseInt(labels.get(Names.LABEL_RANK));
            Integer attempt = parseInt(labels.get(Names.LABEL_ATTEMPT));
            if (rank == null || attempt == null) {
                continue; // not a worker Phoenix created
            }
            String node = pod.getSpec() == null ? null : pod.getSpec().getNodeName();
            boolean nodeGone = node != null && !nodeExists.test(node);
            workers.add(new WorkerView(pod.getMetadata().getName(), rank, attempt,
                    pod.getMetadata().getDeletionTimestamp() != null, nodeGone,
                    PodClassifier.classify(pod, !nodeGone), terminationReport(pod)));
        }
        workers.sort(Comparator.comparingInt(WorkerView::attempt).thenComparingInt(WorkerView::rank));
        Optional<ConfigMap> cm = freshReport.isPresent() ? freshReport : cachedReport.apply(job);
        Map<String, String> data = cm.map(ConfigMap::getData).orElse(Map.of());
        return new ObservedJob(job, workers, Report.parse(data.get(Names.REPORT_KEY_CHECKPOINT)),
                Report.Progress.parse(data.get(Names.REPORT_KEY_PROGRESS)), clock.instant());
    }

    /** The checkpoint report a trainer wrote to its termination log on SIGTERM, if any. */
    static Report terminationReport(Pod pod) {
        if (pod.getStatus() == null || pod.getStatus().getContainerStatuses() == null) {
            return null;
        }
        for (ContainerStatus cs : pod.getStatus().getContainerStatuses()) {
            if (cs.getState() != null && cs.getState().getTerminated() != null) {
                Report r = Report.parse(cs.getState().getTerminated().getMessage());
                if (r != null) {
                    return r;
                }
            }
        }
        return null;
    }

    private static Integer parseInt(String s) {
        try {
            return s == null ? null : Integer.valueOf(s);
        } catch (NumberFormatException e) {
            return null;
        }
    }
}
