package dev.phoenix.bench.peer;

import io.fabric8.kubernetes.api.model.PodTemplateSpec;
import io.fabric8.kubernetes.api.model.PodTemplateSpecBuilder;
import io.fabric8.kubernetes.api.model.Quantity;
import java.util.Map;

/**
 * The pod every peer runs: one container asking for one GPU, as a training worker does, placed by
 * the scheduler on KWOK's simulated node (which has GPUs and never pulls the image).
 */
final class SimulatedPods {
    static final String JOB_LABEL = "phoenix.dev/job";
    static final String ATTEMPT_LABEL = "phoenix.dev/attempt";

    private SimulatedPods() {}

    static PodTemplateSpec template(String job, Map<String, String> extraLabels) {
        return new PodTemplateSpecBuilder()
                .withNewMetadata()
                .addToLabels(JOB_LABEL, job)
                .addToLabels(extraLabels)
                .endMetadata()
                .withNewSpec()
                .withRestartPolicy("Never")
                .withTerminationGracePeriodSeconds(5L)
                .addNewContainer()
                .withName("worker")
                .withImage("phoenix.local/simulated-worker:1")
                .withNewResources()
                .withRequests(Map.of("cpu", new Quantity("10m"), "memory", new Quantity("64Mi")))
                .withLimits(Map.of("nvidia.com/gpu", new Quantity("1")))
                .endResources()
                .endContainer()
                .endSpec()
                .build();
    }
}
