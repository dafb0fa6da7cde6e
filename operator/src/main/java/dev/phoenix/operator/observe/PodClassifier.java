package dev.phoenix.operator.observe;

import com.fasterxml.jackson.databind.JsonNode;
import dev.phoenix.operator.Names;
import io.fabric8.kubernetes.api.model.ContainerStateTerminated;
import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodCondition;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * Classifies one worker pod. Pure: everything it needs is in the pod and the node-existence flag.
 */
public final class PodClassifier {
    /** Reasons of DisruptionTarget (Kubernetes ≥ 1.26) that mean "the platform ended this pod". */
    static final Set<String> DISRUPTION_REASONS =
            Set.of(
                    "PreemptionByScheduler",
                    "PreemptionByKubeScheduler",
                    "EvictionByEvictionAPI",
                    "DeletionByTaintManager",
                    "DeletionByPodGC",
                    "TerminationByKubelet");

    /**
     * pod.status.reason values that kubelets and controllers of every version set when they end a
     * pod.
     */
    static final Set<String> PLATFORM_STATUS_REASONS =
            Set.of(
                    "Evicted",
                    "Preempting",
                    "Shutdown",
                    "Terminated",
                    "NodeShutdown",
                    "NodeLost",
                    "NodeAffinity",
                    "OutOfcpu",
                    "OutOfmemory",
                    "UnexpectedAdmissionError");

    /**
     * Waiting reasons of a container that will not start without a change (image, config, command).
     */
    static final Set<String> CANNOT_START_REASONS =
            Set.of(
                    "CreateContainerConfigError",
                    "CreateContainerError",
                    "ErrImagePull",
                    "ImagePullBackOff",
                    "InvalidImageName",
                    "ErrImageNeverPull",
                    "RunContainerError",
                    "CrashLoopBackOff");

    private PodClassifier() {}

    /**
     * @param pod the pod, or null if it does not exist
     * @param nodeExists false when the pod is bound to a node that is gone
     */
    public static PodOutcome classify(Pod pod, boolean nodeExists) {
        if (pod == null) {
            return PodOutcome.of(PodOutcome.Kind.MISSING);
        }
        var status = pod.getStatus();
        Optional<PodCondition> disruption =
                status == null || status.getConditions() == null
                        ? Optional.empty()
                        : status.getConditions().stream()
                                .filter(
                                        c ->
                                                "DisruptionTarget".equals(c.getType())
                                                        && "True".equals(c.getStatus()))
                                .findFirst();
        if (disruption.isPresent()) {
            PodCondition c = disruption.get();
            return PodOutcome.preempted(
                    c.getReason() == null ? "DisruptionTarget" : c.getReason(), c.getMessage());
        }
        if (status != null
                && status.getReason() != null
                && PLATFORM_STATUS_REASONS.contains(status.getReason())) {
            return PodOutcome.preempted(status.getReason(), status.getMessage());
        }
        String phase = status == null ? null : status.getPhase();
        // A program that already exited keeps its own verdict even if the pod is then deleted.
        if ("Succeeded".equals(phase)) {
            return PodOutcome.of(PodOutcome.Kind.SUCCEEDED);
        }
        if (pod.getMetadata().getDeletionTimestamp() != null) {
            return PodOutcome.preempted(
                    "DeletedExternally",
                    "pod "
                            + pod.getMetadata().getName()
                            + " was deleted by someone other than Phoenix");
        }
        if (pod.getSpec() != null && pod.getSpec().getNodeName() != null && !nodeExists) {
            return PodOutcome.preempted(
                    "NodeLost", "node " + pod.getSpec().getNodeName() + " no longer exists");
        }
        if ("Failed".equals(phase)) {
            return classifyFailure(pod);
        }
        Optional<PodOutcome> stuck = cannotStart(pod);
        if (stuck.isPresent()) {
            return stuck.get();
        }
        if ("Running".equals(phase)) {
            return PodOutcome.of(PodOutcome.Kind.RUNNING);
        }
        return PodOutcome.of(PodOutcome.Kind.PENDING);
    }

    /**
     * A pod that cannot start by itself: a container waiting for a reason such as ErrImagePull or
     * CreateContainerConfigError, or PodScheduled=False (Unschedulable). Carries the pod's own
     * reason and message.
     */
    static Optional<PodOutcome> cannotStart(Pod pod) {
        var status = pod.getStatus();
        if (status == null) {
            return Optional.empty();
        }
        List<ContainerStatus> all = new java.util.ArrayList<>();
        if (status.getInitContainerStatuses() != null) {
            all.addAll(status.getInitContainerStatuses());
        }
        if (status.getContainerStatuses() != null) {
            all.addAll(status.getContainerStatuses());
        }
        for (ContainerStatus cs : all) {
            var waiting = cs.getState() == null ? null : cs.getState().getWaiting();
            if (waiting != null
                    && waiting.getReason() != null
                    && CANNOT_START_REASONS.contains(waiting.getReason())) {
                return Optional.of(
                        PodOutcome.cannotStart(
                                waiting.getReason(),
                                "container "
                                        + cs.getName()
                                        + (waiting.getMessage() == null
                                                ? ""
                                                : ": " + abbreviate(waiting.getMessage()))));
            }
        }
        if (status.getConditions() != null) {
            for (PodCondition c : status.getConditions()) {
                if ("PodScheduled".equals(c.getType())
                        && "False".equals(c.getStatus())
                        && c.getReason() != null) {
                    return Optional.of(
                            PodOutcome.cannotStart(
                                    c.getReason(),
                                    c.getMessage() == null ? null : abbreviate(c.getMessage())));
                }
            }
        }
        return Optional.empty();
    }

    private static PodOutcome classifyFailure(Pod pod) {
        List<ContainerStatus> statuses = pod.getStatus().getContainerStatuses();
        if (statuses != null) {
            for (ContainerStatus cs : statuses) {
                ContainerStateTerminated t =
                        cs.getState() == null ? null : cs.getState().getTerminated();
                if (t == null || t.getExitCode() == null || t.getExitCode() == 0) {
                    continue;
                }
                if (t.getExitCode() == Names.EXIT_CHECKPOINT_INVALID) {
                    JsonNode msg = TerminationMessage.parse(t.getMessage());
                    Long step =
                            msg != null && msg.hasNonNull("step") ? msg.get("step").asLong() : null;
                    String text =
                            msg != null && msg.hasNonNull("message")
                                    ? msg.get("message").asText()
                                    : t.getMessage();
                    String result =
                            msg != null && msg.hasNonNull("result")
                                    ? msg.get("result").asText()
                                    : null;
                    return PodOutcome.checkpointInvalid(
                            PodOutcome.DIRECTORY_IN_USE.equals(result)
                                    ? PodOutcome.DIRECTORY_IN_USE
                                    : "CheckpointInvalid",
                            step,
                            abbreviate(text));
                }
                String message =
                        "container "
                                + cs.getName()
                                + " exited with code "
                                + t.getExitCode()
                                + (t.getMessage() == null || t.getMessage().isBlank()
                                        ? ""
                                        : ": " + abbreviate(t.getMessage()));
                JsonNode msg = TerminationMessage.parse(t.getMessage());
                if (msg != null && PodOutcome.PEER_LOST.equals(msg.path("result").asText(null))) {
                    return PodOutcome.failed(t.getExitCode(), PodOutcome.PEER_LOST, message);
                }
                return PodOutcome.failed(
                        t.getExitCode(), t.getReason() == null ? "Error" : t.getReason(), message);
            }
        }
        String reason =
                pod.getStatus().getReason() == null ? "Failed" : pod.getStatus().getReason();
        return PodOutcome.failed(
                -1,
                reason,
                pod.getStatus().getMessage() == null
                        ? "pod failed without a container exit code"
                        : pod.getStatus().getMessage());
    }

    static String abbreviate(String s) {
        String oneLine = s.strip().replace('\n', ' ');
        return oneLine.length() <= 300 ? oneLine : oneLine.substring(0, 297) + "...";
    }
}
