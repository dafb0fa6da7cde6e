package dev.phoenix.operator.act;

import dev.phoenix.api.v1alpha1.TrainingJob;
import dev.phoenix.operator.Names;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * A job's pods as the API server lists them (not the cache), read in the background. Before a whole
 * gang starts, this list must show no pod of an earlier attempt, so that two attempts of one job
 * never run at once; the reconciler sends it together with the live report read, and the actuator
 * waits for it only when it is about to create.
 */
public final class LiveGang {
    private final CompletableFuture<List<Pod>> pods;

    private LiveGang(CompletableFuture<List<Pod>> pods) {
        this.pods = pods;
    }

    /** Starts the list; returns at once. */
    public static LiveGang read(KubernetesClient client, TrainingJob job) {
        return new LiveGang(
                CompletableFuture.supplyAsync(
                        () ->
                                client.pods()
                                        .inNamespace(job.getMetadata().getNamespace())
                                        .withLabel(Names.LABEL_JOB, job.getMetadata().getName())
                                        .list()
                                        .getItems(),
                        Parallel.CALLS));
    }

    /** The listed pods; the list's own error if it failed. */
    List<Pod> pods() {
        return Parallel.join(pods);
    }
}
