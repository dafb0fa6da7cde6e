package dev.phoenix.operator.observe;

import static org.assertj.core.api.Assertions.assertThat;

import dev.phoenix.operator.Names;
import dev.phoenix.operator.observe.PodUpdates.Effect;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import java.util.function.Predicate;
import org.junit.jupiter.api.Test;

/**
 * {@link PodUpdates#of} is the pod informer's update filter: an update it calls NONE wakes no
 * reconcile and PROGRESS wakes one a batch later, so every change a decision acts on must be
 * DECIDE. It compares {@link JobObserver#view}s.
 */
class PodUpdatesTest {
    private static final Predicate<String> NODES_CACHED = node -> true;
    private static final Predicate<Pod> NOT_DELETED_HERE = p -> false;

    private static PodBuilder pending() {
        return new PodBuilder()
                .withNewMetadata()
                .withName("llm-worker-3")
                .withNamespace("ns")
                .addToLabels(Names.LABEL_JOB, "llm")
                .addToLabels(Names.LABEL_RANK, "3")
                .addToLabels(Names.LABEL_ATTEMPT, "2")
                .endMetadata()
                .withNewSpec()
                .endSpec()
                .withNewStatus()
                .withPhase("Pending")
                .endStatus();
    }

    private static Effect effect(Pod before, Pod after) {
        return PodUpdates.of(before, after, NODES_CACHED, NOT_DELETED_HERE);
    }

    @Test
    void aBindToACachedNodeWakesNothing() {
        Pod before = pending().build();
        Pod bound =
                pending()
                        .editSpec()
                        .withNodeName("n1")
                        .endSpec()
                        .editStatus()
                        .addNewCondition()
                        .withType("PodScheduled")
                        .withStatus("True")
                        .endCondition()
                        .endStatus()
                        .build();
        assertThat(effect(before, bound)).isEqualTo(Effect.NONE);
    }

    @Test
    void aBindToANodeTheCacheDoesNotHoldIsDecidedNow() {
        Pod before = pending().build();
        Pod bound = pending().editSpec().withNodeName("gone").endSpec().build();
        assertThat(PodUpdates.of(before, bound, node -> false, NOT_DELETED_HERE))
                .isEqualTo(Effect.DECIDE);
        // The view itself says the node is gone.
        assertThat(JobObserver.view(bound, node -> false, NOT_DELETED_HERE))
                .isNotEqualTo(JobObserver.view(before, NODES_CACHED, NOT_DELETED_HERE));
    }

    @Test
    void aDeletionMarkIsDecidedNowEvenForAPodThisOperatorDeleted() {
        // A deleting pod has ended as far as the gang is concerned (PodClassifier): the event that
        // shows the mark always reaches the reconciler.
        Pod marked = markedForDeletion();
        assertThat(PodUpdates.of(running().build(), marked, NODES_CACHED, p -> true))
                .isEqualTo(Effect.DECIDE);
        assertThat(effect(running().build(), marked)).isEqualTo(Effect.DECIDE);
        // Coming up and marked in one update is not progress.
        assertThat(effect(pending().editSpec().withNodeName("n1").endSpec().build(), marked))
                .isEqualTo(Effect.DECIDE);
    }

    @Test
    void comingUpIsProgressADisruptionTargetAndAnExitAreDecidedNow() {
        Pod pending = pending().editSpec().withNodeName("n1").endSpec().build();
        Pod running = running().build();
        Pod disrupted =
                running()
                        .editStatus()
                        .addNewCondition()
                        .withType("DisruptionTarget")
                        .withStatus("True")
                        .withReason("EvictionByEvictionAPI")
                        .endCondition()
                        .endStatus()
                        .build();
        Pod exited =
                running()
                        .editStatus()
                        .withPhase("Failed")
                        .addNewContainerStatus()
                        .withName("trainer")
                        .withNewState()
                        .withNewTerminated()
                        .withExitCode(1)
                        .endTerminated()
                        .endState()
                        .endContainerStatus()
                        .endStatus()
                        .build();
        assertThat(effect(pending, running)).isEqualTo(Effect.PROGRESS);
        assertThat(effect(running, disrupted)).isEqualTo(Effect.DECIDE);
        assertThat(effect(running, exited)).isEqualTo(Effect.DECIDE);
        // An exit straight from pending (it never ran) is not progress either.
        assertThat(effect(pending, exited)).isEqualTo(Effect.DECIDE);
        // Nor is going back.
        assertThat(effect(running, pending)).isEqualTo(Effect.DECIDE);
    }

    @Test
    void aPodWithoutPhoenixLabelsHasNoViewAndIsDecided() {
        Pod foreign = new PodBuilder().withNewMetadata().withName("other").endMetadata().build();
        assertThat(JobObserver.view(foreign, NODES_CACHED, NOT_DELETED_HERE)).isNull();
        assertThat(effect(foreign, foreign)).isEqualTo(Effect.DECIDE);
    }

    private static Pod markedForDeletion() {
        return running()
                .editMetadata()
                .withDeletionTimestamp("2026-12-04T01:00:00Z")
                .endMetadata()
                .build();
    }

    private static PodBuilder running() {
        return pending()
                .editSpec()
                .withNodeName("n1")
                .endSpec()
                .editStatus()
                .withPhase("Running")
                .endStatus();
    }
}
