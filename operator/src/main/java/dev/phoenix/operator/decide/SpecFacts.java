package dev.phoenix.operator.decide;

import dev.phoenix.api.v1alpha1.TrainingJobSpec;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;

/** Facts Phoenix can read off a spec without running anything. */
public final class SpecFacts {
    private SpecFacts() {}

    /**
     * The job's total steps where the template states them: a literal {@code PHOENIX_TOTAL_STEPS}
     * value or a {@code --steps N} / {@code --steps=N} argument of the first container (the
     * trainer's own flags; the last one wins, as for the trainer). Empty when a custom image says
     * nothing Phoenix can read.
     */
    public static OptionalLong totalSteps(TrainingJobSpec spec) {
        PodSpec pod = spec.getTemplate() == null ? null : spec.getTemplate().getSpec();
        if (pod == null || pod.getContainers() == null || pod.getContainers().isEmpty()) {
            return OptionalLong.empty();
        }
        Container c = pod.getContainers().get(0);
        OptionalLong found = OptionalLong.empty();
        if (c.getEnv() != null) {
            for (EnvVar e : c.getEnv()) {
                if (dev.phoenix.operator.Names.ENV_TOTAL_STEPS.equals(e.getName())
                        && e.getValue() != null) {
                    found = parse(e.getValue());
                }
            }
        }
        List<String> words = new ArrayList<>();
        if (c.getCommand() != null) {
            words.addAll(c.getCommand());
        }
        if (c.getArgs() != null) {
            words.addAll(c.getArgs());
        }
        for (int i = 0; i < words.size(); i++) {
            String w = words.get(i);
            if (w.equals("--steps") && i + 1 < words.size()) {
                OptionalLong v = parse(words.get(i + 1));
                found = v.isPresent() ? v : found;
            } else if (w.startsWith("--steps=")) {
                OptionalLong v = parse(w.substring("--steps=".length()));
                found = v.isPresent() ? v : found;
            }
        }
        return found;
    }

    private static OptionalLong parse(String s) {
        try {
            long v = Long.parseLong(s.strip());
            return v >= 1 ? OptionalLong.of(v) : OptionalLong.empty();
        } catch (NumberFormatException e) {
            return OptionalLong.empty();
        }
    }

    /**
     * Where the checkpoints of this spec live, independent of mount paths: {@code
     * pvc:<claim>/<dir>} or {@code hostPath:<path>/<dir>} (the first container's mount). Two live
     * jobs with the same location would move each other's checkpoints aside. Empty when the volume
     * is of another kind or not found.
     */
    public static Optional<String> checkpointLocation(TrainingJobSpec spec) {
        PodSpec pod = spec.getTemplate() == null ? null : spec.getTemplate().getSpec();
        String path = spec.getCheckpoint() == null ? null : spec.getCheckpoint().getPath();
        if (pod == null
                || path == null
                || pod.getContainers() == null
                || pod.getContainers().isEmpty()
                || pod.getContainers().get(0).getVolumeMounts() == null) {
            return Optional.empty();
        }
        VolumeMount best = null;
        for (VolumeMount m : pod.getContainers().get(0).getVolumeMounts()) {
            String mp = strip(m.getMountPath());
            if ((path.equals(mp) || path.startsWith(mp.equals("/") ? "/" : mp + "/"))
                    && (best == null || mp.length() > strip(best.getMountPath()).length())) {
                best = m;
            }
        }
        if (best == null || pod.getVolumes() == null) {
            return Optional.empty();
        }
        String mountName = best.getName();
        Optional<Volume> volume =
                pod.getVolumes().stream().filter(v -> v.getName().equals(mountName)).findFirst();
        if (volume.isEmpty()) {
            return Optional.empty();
        }
        String rel =
                normalise(
                        (best.getSubPath() == null ? "" : best.getSubPath())
                                + "/"
                                + path.substring(strip(best.getMountPath()).length()));
        Volume v = volume.get();
        if (v.getPersistentVolumeClaim() != null) {
            return Optional.of("pvc:" + v.getPersistentVolumeClaim().getClaimName() + rel);
        }
        if (v.getHostPath() != null) {
            return Optional.of("hostPath:" + normalise(v.getHostPath().getPath() + rel));
        }
        return Optional.empty();
    }

    private static String strip(String mountPath) {
        return mountPath.length() > 1 && mountPath.endsWith("/")
                ? mountPath.substring(0, mountPath.length() - 1)
                : mountPath;
    }

    /** {@code /a//b/./c/} → {@code /a/b/c}. */
    private static String normalise(String p) {
        List<String> parts = new ArrayList<>();
        for (String s : p.split("/")) {
            if (!s.isEmpty() && !s.equals(".")) {
                parts.add(s);
            }
        }
        return "/" + String.join("/", parts);
    }
}
