package dev.phoenix.operator.act;

import dev.phoenix.api.v1alpha1.TrainingJob;
import dev.phoenix.api.v1alpha1.TrainingJobStatus;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;

/**
 * Replaces the status subresource with optimistic concurrency: the write carries the
 * resourceVersion the decision was made from, so a decision made on a stale view fails with 409 and
 * is re-made by JOSDK's retry from fresh state, before any of its actions ran. Nothing is lost on a
 * conflict.
 */
public final class StatusWriter {
    private StatusWriter() {}

    public static TrainingJob write(
            KubernetesClient client, TrainingJob observed, TrainingJobStatus status) {
        TrainingJob update = new TrainingJob();
        update.setMetadata(
                new ObjectMetaBuilder()
                        .withName(observed.getMetadata().getName())
                        .withNamespace(observed.getMetadata().getNamespace())
                        .withResourceVersion(observed.getMetadata().getResourceVersion())
                        .build());
        update.setSpec(observed.getSpec());
        update.setStatus(status);
        return client.resource(update).updateStatus();
    }
}
