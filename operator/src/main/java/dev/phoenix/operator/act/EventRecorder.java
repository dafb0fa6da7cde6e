package dev.phoenix.operator.act;

import dev.phoenix.api.v1alpha1.TrainingJob;
import dev.phoenix.operator.decide.JobEvent;
import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.api.model.EventBuilder;
import io.fabric8.kubernetes.api.model.ObjectReferenceBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.time.Instant;
import java.util.UUID;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Writes core/v1 Events about a job, in the background and in order, as client-go's event
 * broadcaster does for every Kubernetes controller: an event is one more request, and a reconcile
 * that waited for its events held back the next one (a recovery's pods were created two round trips
 * later, docs/benchmarks.md). An event that cannot be written, or that finds the queue full, is
 * logged, never fatal.
 */
public final class EventRecorder {
    private static final Logger LOG = LoggerFactory.getLogger(EventRecorder.class);
    public static final String COMPONENT = "phoenix-operator";

    /** Events waiting to be written at most (client-go's broadcaster queues 1,000 too). */
    static final int QUEUE = 1000;

    private final KubernetesClient client;

    /** One writer thread: the events of a job reach the API server in the order decided. */
    private final ThreadPoolExecutor writer;

    public EventRecorder(KubernetesClient client) {
        this.client = client;
        this.writer =
                new ThreadPoolExecutor(
                        1,
                        1,
                        0,
                        TimeUnit.MILLISECONDS,
                        new ArrayBlockingQueue<>(QUEUE),
                        r -> {
                            Thread t = new Thread(r, "phoenix-events");
                            t.setDaemon(true);
                            return t;
                        },
                        (r, pool) ->
                                LOG.warn("event queue full ({} waiting); event dropped", QUEUE));
    }

    /** Queues the event; returns at once. */
    public void record(TrainingJob job, JobEvent e) {
        Event event = event(job, e);
        writer.execute(() -> write(job, e, event));
    }

    private static Event event(TrainingJob job, JobEvent e) {
        String now = Instant.now().toString();
        Event event =
                new EventBuilder()
                        .withNewMetadata()
                        .withName(
                                job.getMetadata().getName()
                                        + "."
                                        + UUID.randomUUID().toString().substring(0, 13))
                        .withNamespace(job.getMetadata().getNamespace())
                        .endMetadata()
                        .withInvolvedObject(
                                new ObjectReferenceBuilder()
                                        .withApiVersion(job.getApiVersion())
                                        .withKind(job.getKind())
                                        .withName(job.getMetadata().getName())
                                        .withNamespace(job.getMetadata().getNamespace())
                                        .withUid(job.getMetadata().getUid())
                                        .withResourceVersion(job.getMetadata().getResourceVersion())
                                        .build())
                        .withType(e.warning() ? "Warning" : "Normal")
                        .withReason(e.reason())
                        .withMessage(e.message())
                        .withFirstTimestamp(now)
                        .withLastTimestamp(now)
                        .withCount(1)
                        .withNewSource()
                        .withComponent(COMPONENT)
                        .endSource()
                        .build();
        return event;
    }

    private void write(TrainingJob job, JobEvent e, Event event) {
        try {
            client.v1()
                    .events()
                    .inNamespace(job.getMetadata().getNamespace())
                    .resource(event)
                    .create();
        } catch (Exception ex) {
            LOG.warn(
                    "could not record event {} on {}: {}",
                    e.reason(),
                    job.getMetadata().getName(),
                    ex.getMessage());
        }
    }
}
