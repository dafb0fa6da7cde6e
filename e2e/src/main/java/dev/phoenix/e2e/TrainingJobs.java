package dev.phoenix.e2e;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.phoenix.api.v1alpha1.CheckpointSpec;
import dev.phoenix.api.v1alpha1.TrainingJob;
import dev.phoenix.api.v1alpha1.TrainingJobSpec;
import dev.phoenix.api.v1alpha1.TrainingJobStatus;
import io.fabric8.kubernetes.api.model.ContainerBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodSpecBuilder;
import io.fabric8.kubernetes.api.model.PodTemplateSpecBuilder;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/** TrainingJob manifests for the local stack, and reading back what happened to them. */
public final class TrainingJobs {
    private static final ObjectMapper JSON = new ObjectMapper();

    private TrainingJobs() {}

    /**
     * A job of {@code cfg} whose checkpoints live in {@code checkpointDir} on the host (hostPath:
     * every local node is this host, so a pod on a replacement node finds them), one GPU per
     * worker, the trainer image as a user runs it: non-root, read-only root filesystem, the JavaCPP
     * cache and /tmp on emptyDirs.
     */
    public static TrainingJob job(
            String namespace, String name, JobConfig cfg, Path checkpointDir) {
        return job(namespace, name, TrainerKind.ND4J, cfg, checkpointDir);
    }

    /** {@link #job(String, String, JobConfig, Path)} of the given trainer kind. */
    public static TrainingJob job(
            String namespace, String name, TrainerKind kind, JobConfig cfg, Path checkpointDir) {
        TrainingJob job = new TrainingJob();
        job.getMetadata().setName(name);
        job.getMetadata().setNamespace(namespace);
        TrainingJobSpec spec = new TrainingJobSpec();
        spec.setReplicas(cfg.replicas());
        CheckpointSpec ckpt = new CheckpointSpec();
        ckpt.setPath("/checkpoints");
        ckpt.setIntervalSteps(cfg.intervalSteps());
        ckpt.setKeepLatest(cfg.keepLatest());
        spec.setCheckpoint(ckpt);
        spec.setBackoffLimit(cfg.backoffLimit());
        spec.setMaxPreemptions(cfg.maxPreemptions());
        ContainerBuilder trainer =
                new ContainerBuilder()
                        .withName("trainer")
                        .withImage(kind.image())
                        .withImagePullPolicy("IfNotPresent")
                        .withCommand(kind.command())
                        .withArgs(cfg.trainerArgs())
                        .addNewEnv()
                        .withName("PHOENIX_PROGRESS_INTERVAL_SECONDS")
                        .withValue("1")
                        .endEnv()
                        .withNewResources()
                        .withRequests(
                                Map.of("cpu", new Quantity("10m"), "memory", new Quantity("64Mi")))
                        .withLimits(Map.of("nvidia.com/gpu", new Quantity("1")))
                        .endResources()
                        .withNewSecurityContext()
                        .withReadOnlyRootFilesystem(true)
                        .withAllowPrivilegeEscalation(false)
                        .endSecurityContext()
                        .addNewVolumeMount()
                        .withName("checkpoints")
                        .withMountPath("/checkpoints")
                        .endVolumeMount();
        new TreeMap<>(kind.env())
                .forEach((k, v) -> trainer.addNewEnv().withName(k).withValue(v).endEnv());
        PodSpecBuilder pod =
                new PodSpecBuilder()
                        .withTerminationGracePeriodSeconds(cfg.graceSeconds())
                        // the images' user; their root file systems stay read-only
                        .withNewSecurityContext()
                        .withRunAsNonRoot(true)
                        .withRunAsUser(65532L)
                        .withRunAsGroup(65532L)
                        .endSecurityContext()
                        .addNewVolume()
                        .withName("checkpoints")
                        .withNewHostPath()
                        .withPath(checkpointDir.toString())
                        .withType("Directory")
                        .endHostPath()
                        .endVolume();
        new TreeMap<>(kind.scratchMounts())
                .forEach(
                        (volume, path) -> {
                            trainer.addNewVolumeMount()
                                    .withName(volume)
                                    .withMountPath(path)
                                    .endVolumeMount();
                            pod.addNewVolume()
                                    .withName(volume)
                                    .withNewEmptyDir()
                                    .endEmptyDir()
                                    .endVolume();
                        });
        pod.withContainers(trainer.build());
        spec.setTemplate(new PodTemplateSpecBuilder().withSpec(pod.build()).build());
        job.setSpec(spec);
        return job;
    }

    public static TrainingJob get(KubernetesClient c, String ns, String name) {
        return c.resources(TrainingJob.class).inNamespace(ns).withName(name).get();
    }

    public static TrainingJobStatus status(KubernetesClient c, String ns, String name) {
        TrainingJob j = get(c, ns, name);
        return j == null || j.getStatus() == null ? new TrainingJobStatus() : j.getStatus();
    }

    public static String phase(TrainingJobStatus s) {
        return s.getPhase() == null ? "" : s.getPhase().name();
    }

    public static List<Pod> pods(KubernetesClient c, String ns, String job) {
        return c.pods().inNamespace(ns).withLabel("phoenix.dev/job", job).list().getItems().stream()
                .sorted(Comparator.comparing(p -> p.getMetadata().getName()))
                .toList();
    }

    public static int attemptOf(Pod p) {
        return Integer.parseInt(p.getMetadata().getLabels().get("phoenix.dev/attempt"));
    }

    public static int rankOf(Pod p) {
        return Integer.parseInt(p.getMetadata().getLabels().get("phoenix.dev/rank"));
    }

    public static String env(Pod p, String name) {
        return p.getSpec().getContainers().get(0).getEnv().stream()
                .filter(e -> name.equals(e.getName()))
                .map(e -> e.getValue())
                .findFirst()
                .orElse(null);
    }

    /** Pods of the given attempt whose container(s) are all running. */
    public static List<Pod> runningPods(KubernetesClient c, String ns, String job, int attempt) {
        return pods(c, ns, job).stream()
                .filter(p -> attemptOf(p) == attempt)
                .filter(p -> p.getMetadata().getDeletionTimestamp() == null)
                .filter(
                        p ->
                                p.getStatus() != null
                                        && p.getStatus().getContainerStatuses() != null
                                        && !p.getStatus().getContainerStatuses().isEmpty()
                                        && p.getStatus().getContainerStatuses().stream()
                                                .allMatch(
                                                        cs ->
                                                                cs.getState() != null
                                                                        && cs.getState()
                                                                                        .getRunning()
                                                                                != null))
                .toList();
    }

    /** The termination message of a pod's first container, parsed; null if it has none. */
    public static JsonNode terminationMessage(Pod p) throws IOException {
        if (p.getStatus() == null || p.getStatus().getContainerStatuses() == null) {
            return null;
        }
        for (var cs : p.getStatus().getContainerStatuses()) {
            var t = cs.getState() == null ? null : cs.getState().getTerminated();
            if (t != null && t.getMessage() != null && !t.getMessage().isBlank()) {
                return JSON.readTree(t.getMessage());
            }
        }
        return null;
    }

    /**
     * The final stateDigest of a succeeded job, from rank 0's termination message (the trainer's
     * own word), or null when rank 0's pod has no such message.
     */
    public static String finalStateDigest(KubernetesClient c, String ns, String job)
            throws IOException {
        TrainingJobStatus s = status(c, ns, job);
        int attempt = s.getAttempt() == null ? 0 : s.getAttempt();
        for (Pod p : pods(c, ns, job)) {
            if (rankOf(p) == 0 && attemptOf(p) == attempt) {
                JsonNode m = terminationMessage(p);
                if (m != null
                        && "Succeeded".equals(m.path("result").asText())
                        && m.hasNonNull("stateDigest")) {
                    return m.get("stateDigest").asText();
                }
            }
        }
        return null;
    }

    public static JsonNode json(String s) throws IOException {
        return JSON.readTree(s);
    }
}
