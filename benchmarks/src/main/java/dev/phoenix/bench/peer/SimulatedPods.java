package dev.phoenix.bench.peer;

import io.fabric8.kubernetes.api.model.PodTemplateSpec;
import io.fabric8.kubernetes.api.model.PodTemplateSpecBuilder;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.batch.v1.JobSpecBuilder;
import java.util.Map;

/**
 * The pod every peer runs, Phoenix included: one container asking for one GPU with its checkpoint
 * volume, as a training worker does, placed by the scheduler on KWOK's simulated node (which has
 * GPUs and never pulls the image). Each controller adds only what it adds to every pod it makes.
 */
final class SimulatedPods {
    static final String JOB_LABEL = "phoenix.dev/job";
    static final String ATTEMPT_LABEL = "phoenix.dev/attempt";

    /**
     * The checkpoint volume every worker mounts (a trainer that resumes needs one, whoever restarts
     * it; Phoenix refuses a template without it). KWOK mounts nothing.
     */
    static final String CHECKPOINTS = "checkpoints";

    static final String CHECKPOINT_MOUNT = "/checkpoints";
    static final String CHECKPOINT_ROOT = "/tmp/phoenix-bench/checkpoints/";

    private SimulatedPods() {}

    /**
     * An Indexed Job of {@code replicas} such pods whose {@code podFailurePolicy} takes {@code
     * action} on a pod with {@code DisruptionTarget} (the Job peer ignores it, JobSet's child Job
     * fails so that JobSet restarts the gang).
     */
    static JobSpecBuilder indexedJob(String job, int replicas, int backoffLimit, String action) {
        return new JobSpecBuilder()
                .withCompletionMode("Indexed")
                .withCompletions(replicas)
                .withParallelism(replicas)
                .withBackoffLimit(backoffLimit)
                .withNewPodFailurePolicy()
                .addNewRule()
                .withAction(action)
                .addNewOnPodCondition()
                .withType("DisruptionTarget")
                .withStatus("True")
                .endOnPodCondition()
                .endRule()
                .endPodFailurePolicy()
                .withTemplate(template(job, Map.of()));
    }

    static PodTemplateSpec template(String job, Map<String, String> extraLabels) {
        return template(job, extraLabels, CHECKPOINT_ROOT + job);
    }

    /** {@link #template(String, Map)} with its checkpoint volume on {@code checkpointDir}. */
    static PodTemplateSpec template(
            String job, Map<String, String> extraLabels, String checkpointDir) {
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
                .addNewVolumeMount()
                .withName(CHECKPOINTS)
                .withMountPath(CHECKPOINT_MOUNT)
                .endVolumeMount()
                .endContainer()
                .addNewVolume()
                .withName(CHECKPOINTS)
                .withNewHostPath()
                .withPath(checkpointDir)
                .withType("DirectoryOrCreate")
                .endHostPath()
                .endVolume()
                .endSpec()
                .build();
    }
}
