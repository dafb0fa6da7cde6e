package dev.phoenix.operator.decide;

import dev.phoenix.api.v1alpha1.TrainingJob;
import dev.phoenix.api.v1alpha1.TrainingJobSpec;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * Checks what the CRD schema and its CEL rules cannot express (they see one object, not volumes):
 * the checkpoint directory must be on a volume that outlives pods, or every restart would lose the
 * very checkpoints Phoenix resumes from. Each problem names the field.
 */
public final class SpecValidator {
    private SpecValidator() {}

    /**
     * Everything {@link #problems(TrainingJobSpec)} checks, plus what needs context: a resume step
     * beyond the total steps the template states, and one live job per checkpoint location (the
     * other job is named).
     */
    public static List<String> problems(TrainingJob job, List<TrainingJob> peers) {
        TrainingJobSpec spec = job.getSpec();
        List<String> problems = problems(spec);
        OptionalLong total = SpecFacts.totalSteps(spec);
        if (spec.getResumeStep() != null
                && total.isPresent()
                && spec.getResumeStep() > total.getAsLong()) {
            problems.add(
                    "spec.resumeStep: "
                            + spec.getResumeStep()
                            + " is beyond the job's total steps ("
                            + total.getAsLong()
                            + ", from the template's --steps/PHOENIX_TOTAL_STEPS); no such checkpoint can exist");
        }
        Optional<String> location = location(job);
        if (location.isPresent()) {
            for (TrainingJob other : peers) {
                if (sameJob(job, other)
                        || !live(other)
                        || !location.equals(location(other))
                        || !precedes(other, job)) {
                    continue;
                }
                problems.add(
                        "spec.checkpoint.path: "
                                + spec.getCheckpoint().getPath()
                                + " is the checkpoint location ("
                                + location.get()
                                + ") of job "
                                + other.getMetadata().getNamespace()
                                + "/"
                                + other.getMetadata().getName()
                                + ", which is still live; two jobs on one location would move "
                                + "each other's checkpoints aside. Give this job its own path (or subPath)");
                break;
            }
        }
        return problems;
    }

    /**
     * A PVC location names its namespace (claims are namespaced); a hostPath is the same path
     * cluster-wide.
     */
    static Optional<String> location(TrainingJob job) {
        return SpecFacts.checkpointLocation(job.getSpec())
                .map(
                        l ->
                                l.startsWith("pvc:")
                                        ? "pvc:"
                                                + job.getMetadata().getNamespace()
                                                + "/"
                                                + l.substring(4)
                                        : l);
    }

    private static boolean sameJob(TrainingJob a, TrainingJob b) {
        return Objects.equals(a.getMetadata().getNamespace(), b.getMetadata().getNamespace())
                && Objects.equals(a.getMetadata().getName(), b.getMetadata().getName());
    }

    private static boolean live(TrainingJob j) {
        return j.getMetadata().getDeletionTimestamp() == null
                && (j.getStatus() == null
                        || j.getStatus().getPhase() == null
                        || !j.getStatus().getPhase().isTerminal());
    }

    /** The other job keeps the location: it has started, or it is older (ties broken by name). */
    private static boolean precedes(TrainingJob other, TrainingJob job) {
        if (other.getStatus() != null && other.getStatus().attemptOrZero() > 0) {
            return true;
        }
        if (job.getStatus() != null && job.getStatus().attemptOrZero() > 0) {
            return false;
        }
        String a = String.valueOf(other.getMetadata().getCreationTimestamp());
        String b = String.valueOf(job.getMetadata().getCreationTimestamp());
        int c = a.compareTo(b);
        return c != 0
                ? c < 0
                : (other.getMetadata().getNamespace() + "/" + other.getMetadata().getName())
                                .compareTo(
                                        job.getMetadata().getNamespace()
                                                + "/"
                                                + job.getMetadata().getName())
                        < 0;
    }

    public static List<String> problems(TrainingJobSpec spec) {
        List<String> problems = new ArrayList<>();
        PodSpec pod = spec.getTemplate() == null ? null : spec.getTemplate().getSpec();
        if (pod == null || pod.getContainers() == null || pod.getContainers().isEmpty()) {
            problems.add("spec.template.spec.containers: at least one container is required");
            return problems;
        }
        String path = spec.getCheckpoint() == null ? null : spec.getCheckpoint().getPath();
        if (path == null) {
            return problems; // the schema requires it
        }
        for (Container c : pod.getContainers()) {
            Optional<VolumeMount> mount = covering(c, path);
            if (mount.isEmpty()) {
                problems.add(
                        "spec.checkpoint.path: "
                                + path
                                + " is not on any volumeMount of container "
                                + c.getName()
                                + "; mount a PersistentVolumeClaim (or hostPath) there so checkpoints outlive pods");
                continue;
            }
            Optional<Volume> volume =
                    pod.getVolumes() == null
                            ? Optional.empty()
                            : pod.getVolumes().stream()
                                    .filter(v -> v.getName().equals(mount.get().getName()))
                                    .findFirst();
            if (volume.isEmpty()) {
                problems.add(
                        "spec.template.spec.volumes: no volume named "
                                + mount.get().getName()
                                + " (mounted at "
                                + mount.get().getMountPath()
                                + " in container "
                                + c.getName()
                                + ")");
            } else if (volume.get().getEmptyDir() != null || volume.get().getEphemeral() != null) {
                problems.add(
                        "spec.checkpoint.path: "
                                + path
                                + " is on volume "
                                + volume.get().getName()
                                + ", an "
                                + (volume.get().getEmptyDir() != null
                                        ? "emptyDir"
                                        : "ephemeral volume")
                                + " that is deleted with the pod; use a PersistentVolumeClaim (or hostPath) so checkpoints "
                                + "survive a restart");
            } else if (Boolean.TRUE.equals(mount.get().getReadOnly())) {
                problems.add(
                        "spec.checkpoint.path: "
                                + path
                                + " is on a readOnly mount in container "
                                + c.getName());
            }
        }
        return problems;
    }

    /**
     * The mount whose path is the checkpoint path or one of its parents (the deepest wins, as in
     * Linux).
     */
    private static Optional<VolumeMount> covering(Container c, String path) {
        if (c.getVolumeMounts() == null) {
            return Optional.empty();
        }
        VolumeMount best = null;
        for (VolumeMount m : c.getVolumeMounts()) {
            String mp =
                    m.getMountPath().endsWith("/") && m.getMountPath().length() > 1
                            ? m.getMountPath().substring(0, m.getMountPath().length() - 1)
                            : m.getMountPath();
            boolean covers = path.equals(mp) || path.startsWith(mp.equals("/") ? "/" : mp + "/");
            if (covers && (best == null || mp.length() > best.getMountPath().length())) {
                best = m;
            }
        }
        return Optional.ofNullable(best);
    }
}
