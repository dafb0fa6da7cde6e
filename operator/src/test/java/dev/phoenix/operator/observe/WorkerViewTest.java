package dev.phoenix.operator.observe;

import static org.assertj.core.api.Assertions.assertThat;

import dev.phoenix.operator.Names;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import java.util.function.Predicate;
import org.junit.jupiter.api.Test;

/**
 * {@link JobObserver#view} is what the pod informer's update filter compares: an update that keeps
 * it equal wakes no reconcile, so every change a decision reads must change it.
 */
class WorkerViewTest {
    private static final Predicate<String> NODES_EXIST = node -> true;
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

    private static WorkerView view(Pod p, Predicate<Pod> deleteSent) {
        return JobObserver.view(p, NODES_EXIST, deleteSent);
    }

    @Test
    void aBindToAnExistingNodeLeavesTheViewEqual() {
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
        assertThat(view(bound, NOT_DELETED_HERE)).isEqualTo(view(before, NOT_DELETED_HERE));
    }

    @Test
    void aBindToANodeThatIsGoneChangesIt() {
        Pod before = pending().build();
        Pod bound = pending().editSpec().withNodeName("gone").endSpec().build();
        assertThat(JobObserver.view(bound, node -> false, NOT_DELETED_HERE))
                .isNotEqualTo(view(before, NOT_DELETED_HERE));
    }

    @Test
    void aDeletionMarkChangesItEvenForAPodThisOperatorDeleted() {
        // A deleting pod has ended as far as the gang is concerned (PodClassifier): the event that
        // shows the mark always reaches the reconciler.
        Pod before = running().build();
        Pod marked = markedForDeletion();
        Predicate<Pod> deletedHere = p -> true;
        assertThat(view(marked, deletedHere)).isNotEqualTo(view(before, deletedHere));
    }

    @Test
    void aDeletionBySomeoneElseChangesIt() {
        Pod before = running().build();
        Pod marked = markedForDeletion();
        assertThat(view(marked, NOT_DELETED_HERE)).isNotEqualTo(view(before, NOT_DELETED_HERE));
    }

    @Test
    void runningADisruptionTargetAndAnExitEachChangeIt() {
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
        WorkerView p = view(pending, NOT_DELETED_HERE);
        WorkerView r = view(running, NOT_DELETED_HERE);
        assertThat(r).isNotEqualTo(p);
        assertThat(view(disrupted, NOT_DELETED_HERE)).isNotEqualTo(r);
        assertThat(view(exited, NOT_DELETED_HERE)).isNotEqualTo(r);
    }

    @Test
    void aPodWithoutPhoenixLabelsHasNoView() {
        Pod foreign = new PodBuilder().withNewMetadata().withName("other").endMetadata().build();
        assertThat(view(foreign, NOT_DELETED_HERE)).isNull();
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
