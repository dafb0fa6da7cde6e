package dev.phoenix.operator.decide;

import dev.phoenix.api.v1alpha1.TrainingJobSpec;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Checks what the CRD schema cannot express on every supported server (1.20 ignores CEL rules): the
 * checkpoint directory must be on a volume that outlives pods, or every restart would lose the very
 * checkpoints Phoenix resumes from. Each problem names the field.
 */
public final class SpecValidator {
    private SpecValidator() {}

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
                problems.add("spec.checkpoint.path: " + path + " is not on any volumeMount of container " + c.getName()
                        + "; mount a PersistentVolumeClaim (or hostPath) there so checkpoints outlive pods");
                continue;
            }
            Optional<Volume> volume = pod.getVolumes() == null ? Optional.empty() : pod.getVolumes().stream()
                    .filter(v -> v.getName().equals(mount.get().getName())).findFirst();
            if (volume.isEmpty()) {
                problems.add("spec.template.spec.volumes: no volume named " + mount.get().getName()
                        + " (mounted at " + mount.get().getMountPath() + " in container " + c.getName() + ")");
            } else if (volume.get().getEmptyDir() != null || volume.get().getEphemeral() != null) {
                problems.add("spec.checkpoint.path: " + path + " is on volume " + volume.get().getName()
                        + ", an " + (volume.get().getEmptyDir() != null ? "emptyDir" : "ephemeral volume")
                        + " that is deleted with the pod; use a PersistentVolumeClaim (or hostPath) so checkpoints "
                        + "survive a restart");
            } else if (Boolean.TRUE.equals(mount.get().getReadOnly())) {
                problems.add("spec.checkpoint.path: " + path + " is on a readOnly mount in container " + c.getName());
            }
        }
        return problems;
    }

    /** The mount whose path is the checkpoint path or one of its parents (the deepest wins, as in Linux). */
    private static Optional<VolumeMount> covering(Container c, String path) {
        if (c.getVolumeMounts() == null) {
            return Optional.empty();
        }
        VolumeMount best = null;
        for (VolumeMount m : c.getVolumeMounts()) {
            String mp = m.getMountPath().endsWith("/") && m.getMountPath().length() > 1
                    ? m.getMountPath().substring(0, m.getMountPath().length() - 1) : m.getMountPath();
            boolean covers = path.equals(mp) || path.startsWith(mp.equals("/") ? "/" : mp + "/");
            if (covers && (best == null || mp.length() > best.getMountPath().length())) {
                best = m;
            }
        }
        return Optional.ofNullable(best);
    }
}
