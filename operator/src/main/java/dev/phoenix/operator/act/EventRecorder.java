package dev.phoenix.operator.act;

import dev.phoenix.api.v1alpha1.TrainingJob;
import dev.phoenix.operator.decide.JobEvent;
import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.api.model.EventBuilder;
import io.fabric8.kubernetes.api.model.ObjectReferenceBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.time.Instant;
import java.util.UUID;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Writes core/v1 Events about a job. An event that cannot be written is logged, never fatal. */
public final class EventRecorder {
    private static final Logger LOG = LoggerFactory.getLogger(EventRecorder.class);
    public static final String COMPONENT = "phoenix-operator";

    private final KubernetesClient client;

    public EventRecorder(KubernetesClient client) {
        this.client = client;
    }

    public void record(TrainingJob job, JobEvent e) {
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
