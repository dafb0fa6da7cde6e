package dev.phoenix.operator;

import dev.phoenix.api.v1alpha1.Phase;
import dev.phoenix.api.v1alpha1.TrainingJob;
import dev.phoenix.operator.act.Actuator;
import dev.phoenix.operator.act.EventRecorder;
import dev.phoenix.operator.act.JobResources;
import dev.phoenix.operator.act.LiveGang;
import dev.phoenix.operator.act.StatusWriter;
import dev.phoenix.operator.decide.Decider;
import dev.phoenix.operator.decide.Decision;
import dev.phoenix.operator.decide.JobEvent;
import dev.phoenix.operator.metrics.PhoenixMetrics;
import dev.phoenix.operator.observe.JobObserver;
import dev.phoenix.operator.observe.ObservedJob;
import dev.phoenix.operator.observe.PodExpectations;
import dev.phoenix.operator.observe.PodUpdates;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeCondition;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.rbac.Role;
import io.fabric8.kubernetes.api.model.rbac.RoleBinding;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import io.javaoperatorsdk.operator.api.config.informer.InformerEventSourceConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.ControllerConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.EventSourceContext;
import io.javaoperatorsdk.operator.api.reconciler.Reconciler;
import io.javaoperatorsdk.operator.api.reconciler.UpdateControl;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.javaoperatorsdk.operator.processing.event.source.EventSource;
import io.javaoperatorsdk.operator.processing.event.source.informer.InformerEventSource;
import io.javaoperatorsdk.operator.processing.retry.GradualRetry;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reconciles a TrainingJob in three steps, as the Flink Kubernetes Operator does: observe (informer
 * caches → {@link ObservedJob}), decide ({@link Decider}, pure), act (status first, then events and
 * {@link Actuator}). Pods, report ConfigMaps and Nodes come through informers; nothing is polled.
 */
@ControllerConfiguration(name = TrainingJobReconciler.NAME)
// A decision made on a cache that lags behind Phoenix's own last status write ends in a 409 and is
// re-made by a retry: retry quickly, back off to 30 s, and never give up on a job (JOSDK's default
// stops after 5 attempts, which a loaded API server can exhaust).
@GradualRetry(
        maxAttempts = Integer.MAX_VALUE,
        initialInterval = 200,
        intervalMultiplier = 2,
        maxInterval = 30_000)
public class TrainingJobReconciler implements Reconciler<TrainingJob> {
    public static final String NAME = "trainingjob";
    private static final Logger LOG = LoggerFactory.getLogger(TrainingJobReconciler.class);
    private static final KubernetesSerialization SERIALIZATION = new KubernetesSerialization();

    private final PhoenixMetrics metrics;
    private final boolean watchNodes;
    private final Clock clock;
    private InformerEventSource<Pod, TrainingJob> podSource;
    private InformerEventSource<ConfigMap, TrainingJob> reportSource;
    private InformerEventSource<Node, TrainingJob> nodeSource;
    private EventRecorder eventRecorder;

    /** Pod creates and deletes sent here that the informer has not shown yet. */
    private final PodExpectations expectations;

    /** Reconciles for workers coming up, one per job per batch window. */
    private final ProgressBatch progress = new ProgressBatch();

    /**
     * The owned objects besides pods and the report ConfigMap, watched so a deleted one is
     * recreated at once.
     */
    private final List<InformerEventSource<? extends HasMetadata, TrainingJob>> ownedSources =
            new ArrayList<>();

    public TrainingJobReconciler(PhoenixMetrics metrics, boolean watchNodes, Clock clock) {
        this.metrics = metrics;
        this.watchNodes = watchNodes;
        this.clock = clock;
        this.expectations = new PodExpectations(clock);
    }

    @Override
    public List<EventSource<?, TrainingJob>> prepareEventSources(
            EventSourceContext<TrainingJob> context) {
        podSource =
                new InformerEventSource<>(
                        InformerEventSourceConfiguration.from(Pod.class, TrainingJob.class)
                                .withName("pods")
                                .withLabelSelector(Names.LABEL_JOB)
                                .withSecondaryToPrimaryMapper(byJobLabel())
                                .withNamespacesInheritedFromController()
                                // Every add passes; it also meets a create expectation.
                                .withOnAddFilter(
                                        p -> {
                                            expectations.delivered(p);
                                            return true;
                                        })
                                // An update that leaves the decision's view of the pod equal wakes
                                // no reconcile (the cache holds it all the same): the binds of a
                                // large gang's pods, and status updates that change nothing the
                                // decision reads, each cost a walk over the whole gang. A worker
                                // coming up wakes it once per batch (PodUpdates).
                                .withOnUpdateFilter((newPod, oldPod) -> wakes(oldPod, newPod))
                                .build(),
                        context);
        // A job's pods by job: a reconcile reads its gang from this index instead of filtering
        // every cached pod of the namespace (one job's 1,000 pods, or 1,000 jobs' pods).
        podSource.addIndexers(
                Map.of(
                        PODS_BY_JOB,
                        p ->
                                List.of(
                                        jobKey(
                                                p.getMetadata().getNamespace(),
                                                p.getMetadata()
                                                        .getLabels()
                                                        .get(Names.LABEL_JOB)))));
        reportSource =
                new InformerEventSource<>(
                        InformerEventSourceConfiguration.from(ConfigMap.class, TrainingJob.class)
                                .withName("reports")
                                .withLabelSelector(Names.LABEL_JOB)
                                .withSecondaryToPrimaryMapper(byJobLabel())
                                .withNamespacesInheritedFromController()
                                .build(),
                        context);
        List<EventSource<?, TrainingJob>> sources =
                new ArrayList<>(List.of(podSource, reportSource));
        sources.add(progress.asEventSource());
        for (Class<? extends HasMetadata> kind :
                List.of(Service.class, ServiceAccount.class, Role.class, RoleBinding.class)) {
            InformerEventSource<? extends HasMetadata, TrainingJob> owned = owned(kind, context);
            ownedSources.add(owned);
            sources.add(owned);
        }
        if (watchNodes) {
            // A vanished node means its pods were preempted, even before PodGC removes them. Only
            // deletions and Ready flips matter: heartbeats must not wake every job on the node.
            nodeSource =
                    new InformerEventSource<>(
                            InformerEventSourceConfiguration.from(Node.class, TrainingJob.class)
                                    .withName("nodes")
                                    // Nodes are cluster-scoped: never inherit the controller's
                                    // namespace list.
                                    .withWatchAllNamespaces()
                                    .withSecondaryToPrimaryMapper(
                                            node -> jobsOnNode(node.getMetadata().getName()))
                                    .withOnUpdateFilter(
                                            (newNode, oldNode) ->
                                                    !Objects.equals(ready(newNode), ready(oldNode)))
                                    .withOnAddFilter(n -> false)
                                    .build(),
                            context);
            sources.add(nodeSource);
        }
        return sources;
    }

    private static final String PODS_BY_JOB = "phoenix.dev/pods-by-job";

    /**
     * The {@link #PODS_BY_JOB} key of a job's pods (the informer selects only pods with the job
     * label).
     */
    private static String jobKey(String namespace, String job) {
        return namespace + "/" + job;
    }

    /**
     * Whether a pod update wakes its job's reconcile ({@link PodUpdates}): now, batched (a worker
     * came up), or not at all (the decision's view of the pod is unchanged).
     */
    private boolean wakes(Pod oldPod, Pod newPod) {
        return switch (PodUpdates.of(
                oldPod,
                newPod,
                node -> nodeSource == null || nodeSource.get(new ResourceID(node)).isPresent(),
                expectations::deleteSent)) {
            case NONE -> false;
            case DECIDE -> true;
            case PROGRESS ->
                    !progress.progressed(
                            new ResourceID(
                                    newPod.getMetadata().getLabels().get(Names.LABEL_JOB),
                                    newPod.getMetadata().getNamespace()));
        };
    }

    private static <R extends HasMetadata> InformerEventSource<R, TrainingJob> owned(
            Class<R> kind, EventSourceContext<TrainingJob> context) {
        return new InformerEventSource<>(
                InformerEventSourceConfiguration.from(kind, TrainingJob.class)
                        .withName("owned-" + kind.getSimpleName().toLowerCase())
                        .withLabelSelector(Names.LABEL_JOB)
                        .withSecondaryToPrimaryMapper(byJobLabel())
                        .withNamespacesInheritedFromController()
                        // Only a deletion matters: the objects never change after creation.
                        .withOnAddFilter(r -> false)
                        .withOnUpdateFilter((a, b) -> false)
                        .build(),
                context);
    }

    /** The owned objects of a job that the caches do not hold (deleted while the job lives). */
    private List<String> missingResources(TrainingJob job) {
        List<String> missing = new ArrayList<>();
        String ns = job.getMetadata().getNamespace();
        for (HasMetadata desired : JobResources.desired(job)) {
            String name = desired.getMetadata().getName();
            InformerEventSource<? extends HasMetadata, TrainingJob> source =
                    desired instanceof ConfigMap
                            ? reportSource
                            : ownedSources.stream()
                                    .filter(s -> s.resourceType().equals(desired.getClass()))
                                    .findFirst()
                                    .orElse(null);
            if (source != null && source.get(new ResourceID(name, ns)).isEmpty()) {
                missing.add(desired.getKind() + " " + name);
            }
        }
        return missing;
    }

    private static io.javaoperatorsdk.operator.processing.event.source.SecondaryToPrimaryMapper<
                    io.fabric8.kubernetes.api.model.HasMetadata>
            byJobLabelRaw() {
        return r -> {
            String job =
                    r.getMetadata().getLabels() == null
                            ? null
                            : r.getMetadata().getLabels().get(Names.LABEL_JOB);
            return job == null
                    ? Set.of()
                    : Set.of(new ResourceID(job, r.getMetadata().getNamespace()));
        };
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    private static <R extends io.fabric8.kubernetes.api.model.HasMetadata>
            io.javaoperatorsdk.operator.processing.event.source.SecondaryToPrimaryMapper<R>
                    byJobLabel() {
        return (io.javaoperatorsdk.operator.processing.event.source.SecondaryToPrimaryMapper)
                byJobLabelRaw();
    }

    private Set<ResourceID> jobsOnNode(String node) {
        return podSource
                .list(p -> p.getSpec() != null && node.equals(p.getSpec().getNodeName()))
                .map(
                        p ->
                                new ResourceID(
                                        p.getMetadata().getLabels().get(Names.LABEL_JOB),
                                        p.getMetadata().getNamespace()))
                .collect(Collectors.toSet());
    }

    /**
     * A node missing from the cache is confirmed with the API server before its pods count as lost:
     * a lagging or unhealthy informer must never turn into a preemption loop.
     */
    private boolean nodeExists(KubernetesClient client, String node) {
        if (nodeSource == null || nodeSource.get(new ResourceID(node)).isPresent()) {
            return true;
        }
        return client.nodes().withName(node).get() != null;
    }

    private static String ready(Node n) {
        if (n.getStatus() == null || n.getStatus().getConditions() == null) {
            return null;
        }
        return n.getStatus().getConditions().stream()
                .filter(c -> "Ready".equals(c.getType()))
                .map(NodeCondition::getStatus)
                .findFirst()
                .orElse(null);
    }

    @Override
    public UpdateControl<TrainingJob> reconcile(TrainingJob job, Context<TrainingJob> context) {
        progress.reconciling(ResourceID.fromResource(job));
        KubernetesClient client = context.getClient();
        JobObserver observer =
                new JobObserver(
                                j ->
                                        expectations.withCreated(
                                                j.getMetadata().getNamespace(),
                                                j.getMetadata().getName(),
                                                () ->
                                                        podSource.byIndex(
                                                                PODS_BY_JOB,
                                                                jobKey(
                                                                        j.getMetadata()
                                                                                .getNamespace(),
                                                                        j.getMetadata()
                                                                                .getName()))),
                                j ->
                                        reportSource.get(
                                                new ResourceID(
                                                        Names.reportConfigMap(
                                                                j.getMetadata().getName()),
                                                        j.getMetadata().getNamespace())),
                                node -> nodeExists(client, node),
                                clock,
                                this::missingResources,
                                j -> context.getPrimaryCache().list().toList())
                        .deletesSent(expectations::deleteSent);

        ObservedJob observed = observer.observe(job, Optional.empty());
        LiveGang liveGang = null;
        if (aboutToStart(observed)) {
            // The next attempt resumes from status.latestCheckpoint: read the report live so that
            // an emergency checkpoint reported while the old gang terminated is never missed. The
            // live pod list that must show no older attempt before a gang starts goes out at the
            // same time: two reads, one round trip.
            liveGang = LiveGang.read(client, job);
            observed =
                    observer.observe(
                            job,
                            Optional.ofNullable(
                                    client.configMaps()
                                            .inNamespace(job.getMetadata().getNamespace())
                                            .withName(
                                                    Names.reportConfigMap(
                                                            job.getMetadata().getName()))
                                            .get()));
        }
        Decision decision = Decider.decide(observed);

        Actuator actuator = new Actuator(client, liveGang, expectations);
        if (!SERIALIZATION
                .asJson(decision.status())
                .equals(SERIALIZATION.asJson(job.getStatus()))) {
            // A 409 here propagates: JOSDK retries the whole reconcile on fresh state, no action
            // has run but the deletes of a gang the platform disrupted, which go out beside the
            // write (Action.DeleteWorkers.withStatus).
            TrainingJob written =
                    actuator.alongside(
                            job,
                            decision.actions(),
                            () -> StatusWriter.write(client, job, decision.status()));
            // The next reconcile (the pod events this write's actions cause come within
            // milliseconds) must see this write even before the informer delivers it; on the stale
            // cache it would only end in a 409 and a retry 200 ms later. JOSDK's temporary
            // resource cache, as PrimaryUpdateAndCacheUtils uses it.
            context.eventSourceRetriever()
                    .getControllerEventSource()
                    .handleRecentResourceUpdate(ResourceID.fromResource(job), written, job);
        }
        metrics.record(decision);
        boolean complete;
        try {
            complete = actuator.execute(job, decision.actions());
        } finally {
            // After the actions, queued (EventRecorder writes in the background): an event is one
            // more request, and neither this recovery's pod calls nor the next reconcile should
            // wait for it. Recorded even when an action failed (the retry will not say it again).
            EventRecorder events = events(client);
            for (JobEvent e : decision.events()) {
                LOG.info("{} {}: {}", Names.describe(job), e.reason(), e.message());
                events.record(job, e);
            }
        }

        UpdateControl<TrainingJob> control = UpdateControl.noUpdate();
        if (!complete) {
            control.rescheduleAfter(Duration.ofSeconds(1));
        } else if (decision.requeueAfter() != null) {
            control.rescheduleAfter(decision.requeueAfter());
        }
        return control;
    }

    /** One recorder (one ordered queue) for the operator's client. */
    private synchronized EventRecorder events(KubernetesClient client) {
        if (eventRecorder == null) {
            eventRecorder = new EventRecorder(client);
        }
        return eventRecorder;
    }

    private static boolean aboutToStart(ObservedJob observed) {
        var status = observed.job().getStatus();
        if (!observed.workers().isEmpty() || status == null || status.getPhase() == null) {
            return false;
        }
        return status.getPhase() == Phase.Restarting || status.getPhase() == Phase.Suspended;
    }
}
