package dev.phoenix.operator.observe;

import dev.phoenix.api.v1alpha1.TrainingJob;
import dev.phoenix.operator.Names;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.Pod;
import java.time.Clock;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;
import java.util.function.Predicate;

/**
 * The observe step: builds an {@link ObservedJob} from the informer caches. It reads, never writes,
 * and sends no request to the API server unless asked for a fresh report (see {@link #observe}).
 */
public final class JobObserver {
    /** Lists a job's pods from the pod informer cache. */
    public interface PodLister extends Function<TrainingJob, List<Pod>> {}

    private final PodLister pods;
    private final Function<TrainingJob, Optional<ConfigMap>> cachedReport;
    private final Predicate<String> nodeExists;
    private final Clock clock;
    private final Function<TrainingJob, List<String>> missingResources;
    private final Function<TrainingJob, List<TrainingJob>> peers;
    private Predicate<Pod> deleteSent = p -> false;

    /**
     * Largest value of the {@code checkpoint} and {@code progress} keys believed (the trainer
     * writes ~300 bytes).
     */
    public static final int MAX_REPORT_BYTES = 4096;

    /**
     * Largest {@code inventory} value believed: 20 entries of ~250 bytes each, with room to spare.
     */
    public static final int MAX_INVENTORY_BYTES = 16384;

    public JobObserver(
            PodLister pods,
            Function<TrainingJob, Optional<ConfigMap>> cachedReport,
            Predicate<String> nodeExists,
            Clock clock) {
        this(pods, cachedReport, nodeExists, clock, j -> List.of(), j -> List.of());
    }

    public JobObserver(
            PodLister pods,
            Function<TrainingJob, Optional<ConfigMap>> cachedReport,
            Predicate<String> nodeExists,
            Clock clock,
            Function<TrainingJob, List<String>> missingResources,
            Function<TrainingJob, List<TrainingJob>> peers) {
        this.pods = pods;
        this.cachedReport = cachedReport;
        this.nodeExists = nodeExists;
        this.clock = clock;
        this.missingResources = missingResources;
        this.peers = peers;
    }

    /**
     * Pods this process has sent a delete for count as deleting before the cache shows their
     * deletion timestamp (PodExpectations): the reconciles that follow a gang delete do not send it
     * again.
     */
    public JobObserver deletesSent(Predicate<Pod> sent) {
        this.deleteSent = sent;
        return this;
    }

    /**
     * @param freshReport when present, used instead of the cached report ConfigMap: the reconciler
     *     reads it live right before starting an attempt, so a report written during the old gang's
     *     termination is never missed because of cache lag
     */
    public ObservedJob observe(TrainingJob job, Optional<ConfigMap> freshReport) {
        List<WorkerView> workers = new ArrayList<>();
        // A gang's pods share a few nodes: one lookup per node, not per pod.
        Map<String, Boolean> nodes = new HashMap<>();
        Predicate<String> nodeKnown = node -> nodes.computeIfAbsent(node, nodeExists::test);
        for (Pod pod : pods.apply(job)) {
            WorkerView w = view(pod, nodeKnown, deleteSent);
            if (w != null) {
                workers.add(w);
            }
        }
        workers.sort(
                Comparator.comparingInt(WorkerView::attempt).thenComparingInt(WorkerView::rank));
        Optional<ConfigMap> cm = freshReport.isPresent() ? freshReport : cachedReport.apply(job);
        Map<String, String> data = cm.map(ConfigMap::getData).orElse(Map.of());
        List<String> problems = new ArrayList<>();
        String checkpoint = bounded(data, Names.REPORT_KEY_CHECKPOINT, MAX_REPORT_BYTES, problems);
        String progress = bounded(data, Names.REPORT_KEY_PROGRESS, MAX_REPORT_BYTES, problems);
        String inventory = bounded(data, Names.REPORT_KEY_INVENTORY, MAX_INVENTORY_BYTES, problems);
        Report report = Report.parse(checkpoint);
        Report.Progress p = Report.Progress.parse(progress);
        Report.Inventory inv = Report.Inventory.parse(inventory);
        unreadable(checkpoint, report, Names.REPORT_KEY_CHECKPOINT, problems);
        unreadable(progress, p, Names.REPORT_KEY_PROGRESS, problems);
        unreadable(inventory, inv, Names.REPORT_KEY_INVENTORY, problems);
        return new ObservedJob(
                job,
                workers,
                report,
                p,
                inv,
                List.copyOf(problems),
                missingResources.apply(job),
                peers.apply(job),
                cm.map(c -> c.getMetadata().getResourceVersion()).orElse(null),
                clock.instant());
    }

    /**
     * A worker pod as the decision sees it: everything the decider reads of a pod is in this view,
     * so an update that leaves it equal cannot change a decision (the pod informer's update filter
     * relies on that).
     *
     * @param nodeExists whether the pod's node exists
     * @param deleteSent whether this process sent a delete for the pod
     * @return null for a pod without Phoenix's rank and attempt labels (not a worker Phoenix made)
     */
    public static WorkerView view(
            Pod pod, Predicate<String> nodeExists, Predicate<Pod> deleteSent) {
        Map<String, String> labels = pod.getMetadata().getLabels();
        Integer rank = labels == null ? null : parseInt(labels.get(Names.LABEL_RANK));
        Integer attempt = labels == null ? null : parseInt(labels.get(Names.LABEL_ATTEMPT));
        if (rank == null || attempt == null) {
            return null;
        }
        String node = pod.getSpec() == null ? null : pod.getSpec().getNodeName();
        boolean nodeGone = node != null && !nodeExists.test(node);
        return new WorkerView(
                pod.getMetadata().getName(),
                rank,
                attempt,
                pod.getMetadata().getDeletionTimestamp() != null || deleteSent.test(pod),
                nodeGone,
                PodClassifier.classify(pod, !nodeGone),
                terminationReport(pod));
    }

    /**
     * The value of a report key, or null (with a problem) when it is larger than anything the
     * trainer writes.
     */
    private static String bounded(
            Map<String, String> data, String key, int max, List<String> problems) {
        String v = data.get(key);
        if (v != null && v.length() > max) {
            problems.add(
                    "report key "
                            + key
                            + " is "
                            + v.length()
                            + " bytes, more than the "
                            + max
                            + " a trainer writes; ignored");
            return null;
        }
        return v;
    }

    private static void unreadable(String raw, Object parsed, String key, List<String> problems) {
        if (raw != null && !raw.isBlank() && parsed == null) {
            problems.add(
                    "report key "
                            + key
                            + " is not a "
                            + key
                            + " report: "
                            + PodClassifier.abbreviate(
                                    raw.length() > 80 ? raw.substring(0, 80) : raw));
        }
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
