package dev.phoenix.operator.observe;

import static org.assertj.core.api.Assertions.assertThat;

import dev.phoenix.operator.observe.PodOutcome.Kind;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class PodClassifierTest {
    private static PodBuilder pod(String phase) {
        return new PodBuilder()
                .withNewMetadata()
                .withName("llm-worker-0")
                .endMetadata()
                .withNewSpec()
                .withNodeName("n1")
                .endSpec()
                .withNewStatus()
                .withPhase(phase)
                .endStatus();
    }

    private static Pod exited(int code, String message) {
        return pod("Failed")
                .editStatus()
                .addNewContainerStatus()
                .withName("trainer")
                .withNewState()
                .withNewTerminated()
                .withExitCode(code)
                .withMessage(message)
                .endTerminated()
                .endState()
                .endContainerStatus()
                .endStatus()
                .build();
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "PreemptionByScheduler",
                "EvictionByEvictionAPI",
                "DeletionByTaintManager",
                "DeletionByPodGC",
                "TerminationByKubelet"
            })
    void disruptionTargetIsAPreemptionEvenWhenTheContainerExitedNonZero(String reason) {
        Pod p =
                new PodBuilder(exited(143, ""))
                        .editStatus()
                        .addNewCondition()
                        .withType("DisruptionTarget")
                        .withStatus("True")
                        .withReason(reason)
                        .endCondition()
                        .endStatus()
                        .build();
        PodOutcome o = PodClassifier.classify(p, true);
        assertThat(o.kind()).isEqualTo(Kind.PREEMPTED);
        assertThat(o.reason()).isEqualTo(reason);
    }

    @Test
    void disruptionTargetFalseIsIgnored() {
        Pod p =
                pod("Running")
                        .editStatus()
                        .addNewCondition()
                        .withType("DisruptionTarget")
                        .withStatus("False")
                        .endCondition()
                        .endStatus()
                        .build();
        assertThat(PodClassifier.classify(p, true).kind()).isEqualTo(Kind.RUNNING);
    }

    @ParameterizedTest
    @ValueSource(strings = {"Evicted", "Shutdown", "Terminated", "NodeShutdown", "NodeLost"})
    void kubeletEvictionAndNodeShutdownReasonsArePreemptions(String reason) {
        Pod p = pod("Failed").editStatus().withReason(reason).withMessage("m").endStatus().build();
        assertThat(PodClassifier.classify(p, true).kind()).isEqualTo(Kind.PREEMPTED);
    }

    @Test
    void aDeletionNotExplainedByStatusIsAPreemption() {
        Pod p =
                pod("Running")
                        .editMetadata()
                        .withDeletionTimestamp("2026-11-23T10:00:00Z")
                        .endMetadata()
                        .build();
        PodOutcome o = PodClassifier.classify(p, true);
        assertThat(o.kind()).isEqualTo(Kind.PREEMPTED);
        assertThat(o.reason()).isEqualTo("DeletedExternally");
    }

    @Test
    void aVanishedNodeIsAPreemption() {
        PodOutcome o = PodClassifier.classify(pod("Running").build(), false);
        assertThat(o.kind()).isEqualTo(Kind.PREEMPTED);
        assertThat(o.reason()).isEqualTo("NodeLost");
    }

    @Test
    void aNonZeroExitIsAFailure() {
        PodOutcome o = PodClassifier.classify(exited(1, "Traceback: boom"), true);
        assertThat(o.kind()).isEqualTo(Kind.FAILED);
        assertThat(o.exitCode()).isEqualTo(1);
        assertThat(o.message()).contains("exited with code 1").contains("boom");
    }

    @Test
    void aTrainerThatLostItsPeerIsAFailureMarkedPeerLost() {
        PodOutcome o =
                PodClassifier.classify(
                        exited(
                                1,
                                "{\"result\":\"PeerLost\",\"step\":47,"
                                        + "\"message\":\"lost the connection to rank 0 during the all-reduce: java.io.EOFException\"}"),
                        true);
        assertThat(o.kind()).isEqualTo(Kind.FAILED);
        assertThat(o.reason()).isEqualTo(PodOutcome.PEER_LOST);
    }

    @Test
    void oomKilledIsAFailure() {
        Pod p =
                pod("Failed")
                        .editStatus()
                        .addNewContainerStatus()
                        .withName("trainer")
                        .withNewState()
                        .withNewTerminated()
                        .withExitCode(137)
                        .withReason("OOMKilled")
                        .endTerminated()
                        .endState()
                        .endContainerStatus()
                        .endStatus()
                        .build();
        PodOutcome o = PodClassifier.classify(p, true);
        assertThat(o.kind()).isEqualTo(Kind.FAILED);
        assertThat(o.reason()).isEqualTo("OOMKilled");
    }

    @Test
    void exit65IsAnInvalidCheckpointWithTheStepFromTheTerminationMessage() {
        PodOutcome o =
                PodClassifier.classify(
                        exited(
                                65,
                                "{\"result\":\"CheckpointInvalid\",\"step\":40,\"message\":\"layer0.W: SHA-256 mismatch\"}"),
                        true);
        assertThat(o.kind()).isEqualTo(Kind.CHECKPOINT_INVALID);
        assertThat(o.invalidStep()).isEqualTo(40);
        assertThat(o.message()).isEqualTo("layer0.W: SHA-256 mismatch");
    }

    @Test
    void succeededStaysSucceededWhenDeletedAfterwards() {
        Pod p =
                pod("Succeeded")
                        .editMetadata()
                        .withDeletionTimestamp("2026-11-23T10:00:00Z")
                        .endMetadata()
                        .build();
        assertThat(PodClassifier.classify(p, true).kind()).isEqualTo(Kind.SUCCEEDED);
    }

    @Test
    void pendingAndMissing() {
        assertThat(PodClassifier.classify(pod("Pending").build(), true).kind())
                .isEqualTo(Kind.PENDING);
        assertThat(PodClassifier.classify(null, true).kind()).isEqualTo(Kind.MISSING);
    }
}
