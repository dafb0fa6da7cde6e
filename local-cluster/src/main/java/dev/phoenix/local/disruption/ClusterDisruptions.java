package dev.phoenix.local.disruption;

import io.fabric8.kubernetes.api.model.DeleteOptionsBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.Taint;
import io.fabric8.kubernetes.api.model.TaintBuilder;
import io.fabric8.kubernetes.api.model.policy.v1.Eviction;
import io.fabric8.kubernetes.api.model.policy.v1.EvictionBuilder;
import io.fabric8.kubernetes.api.model.scheduling.v1.PriorityClassBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Disruptions made by asking the real cluster components to disrupt, never by writing their
 * signals: each method makes the component that produces a {@code DisruptionTarget} condition on a
 * cluster produce it.
 *
 * <table>
 *   <tr><th>method</th><th>component</th><th>condition reason</th></tr>
 *   <tr><td>{@link #preemptByScheduler}</td><td>kube-scheduler</td><td>PreemptionByScheduler</td></tr>
 *   <tr><td>{@link #evict}</td><td>kube-apiserver (Eviction API)</td><td>EvictionByEvictionAPI</td></tr>
 *   <tr><td>{@link #taintNoExecute}</td><td>kube-controller-manager (taint-eviction)</td><td>DeletionByTaintManager</td></tr>
 *   <tr><td>{@link #deleteNode}</td><td>kube-controller-manager (PodGC)</td><td>DeletionByPodGC</td></tr>
 * </table>
 *
 * <p>A node that stops heart-beating (its kubelet or KWOK halted) is the fifth: the node-lifecycle
 * controller taints it {@code node.kubernetes.io/unreachable:NoExecute} and the taint-eviction
 * controller deletes its pods once their toleration runs out (DeletionByTaintManager).
 */
public final class ClusterDisruptions {
    /** PriorityClass of the pods that make the scheduler preempt (workers have priority 0). */
    public static final String PREEMPTOR_PRIORITY_CLASS = "phoenix-preemptor";

    public static final String PREEMPTOR_LABEL = "phoenix.dev/preemptor";

    /**
     * The preemptor's image: the pause image every real node has imported (KWOK runs no image at
     * all).
     */
    public static final String PREEMPTOR_IMAGE = "docker.io/phoenix/pause:1.0";

    /** Taint key of {@link #taintNoExecute}. */
    public static final String MAINTENANCE_TAINT = "phoenix.dev/maintenance";

    private final KubernetesClient client;

    public ClusterDisruptions(KubernetesClient admin) {
        this.client = admin;
    }

    /**
     * Makes kube-scheduler preempt {@code victim}: creates a pod of a higher PriorityClass that
     * asks for {@code quantity} of {@code resource} (for example {@code nvidia.com/gpu}) and may
     * only run on the victim's node, so the scheduler must evict lower-priority pods there to fit
     * it. The scheduler picks the victims by its own rules (fewest, lowest priority), so the node
     * should hold only the pods the caller means to disrupt. Remove the returned preemptor with
     * {@link #removePreemptor} once the victims are gone, or it keeps their resources.
     */
    public Pod preemptByScheduler(Pod victim, String resource, String quantity) {
        ensurePriorityClass();
        String node = victim.getSpec().getNodeName();
        if (node == null) {
            throw new IllegalArgumentException(
                    "pod " + victim.getMetadata().getName() + " is not bound to a node");
        }
        String ns = victim.getMetadata().getNamespace();
        String name =
                "preemptor-" + Long.toString(ThreadLocalRandom.current().nextLong(1L << 40), 36);
        Pod preemptor =
                new PodBuilder()
                        .withNewMetadata()
                        .withName(name)
                        .withNamespace(ns)
                        .addToLabels(PREEMPTOR_LABEL, "true")
                        .endMetadata()
                        .withNewSpec()
                        .withPriorityClassName(PREEMPTOR_PRIORITY_CLASS)
                        .withNodeSelector(Map.of("kubernetes.io/hostname", node))
                        .withTerminationGracePeriodSeconds(0L)
                        .addNewContainer()
                        .withName("preemptor")
                        .withImage(PREEMPTOR_IMAGE)
                        .withImagePullPolicy("Never")
                        .withNewResources()
                        .addToRequests(resource, new Quantity(quantity))
                        .addToLimits(resource, new Quantity(quantity))
                        .endResources()
                        .endContainer()
                        .endSpec()
                        .build();
        return client.pods().inNamespace(ns).resource(preemptor).create();
    }

    public void removePreemptor(Pod preemptor) {
        client.pods()
                .inNamespace(preemptor.getMetadata().getNamespace())
                .withName(preemptor.getMetadata().getName())
                .withGracePeriod(0)
                .delete();
    }

    private void ensurePriorityClass() {
        if (client.scheduling().v1().priorityClasses().withName(PREEMPTOR_PRIORITY_CLASS).get()
                != null) {
            return;
        }
        try {
            client.scheduling()
                    .v1()
                    .priorityClasses()
                    .resource(
                            new PriorityClassBuilder()
                                    .withNewMetadata()
                                    .withName(PREEMPTOR_PRIORITY_CLASS)
                                    .endMetadata()
                                    .withValue(1_000_000)
                                    .withDescription(
                                            "Phoenix tests: pods that make kube-scheduler preempt training workers")
                                    .build())
                    .create();
        } catch (KubernetesClientException e) {
            if (e.getCode() != 409) {
                throw e;
            }
        }
    }

    /**
     * The Eviction API (policy/v1) for exactly this pod (its UID as precondition, so a replacement
     * of the same name is never hit). True when the API server accepted the eviction (it then
     * writes DisruptionTarget=EvictionByEvictionAPI and deletes the pod gracefully); false when a
     * PodDisruptionBudget refused it.
     */
    public boolean evict(Pod pod) {
        Eviction eviction =
                new EvictionBuilder()
                        .withNewMetadata()
                        .withName(pod.getMetadata().getName())
                        .withNamespace(pod.getMetadata().getNamespace())
                        .endMetadata()
                        .withDeleteOptions(
                                new DeleteOptionsBuilder()
                                        .withNewPreconditions()
                                        .withUid(pod.getMetadata().getUid())
                                        .endPreconditions()
                                        .build())
                        .build();
        return client.pods()
                .inNamespace(pod.getMetadata().getNamespace())
                .withName(pod.getMetadata().getName())
                .evict(eviction);
    }

    /**
     * Taints the node {@value #MAINTENANCE_TAINT}{@code =true:NoExecute}: kube-controller-manager's
     * taint-eviction controller deletes every pod there that does not tolerate it.
     */
    public void taintNoExecute(String node) {
        editTaints(
                node,
                taints -> {
                    if (taints.stream().noneMatch(t -> MAINTENANCE_TAINT.equals(t.getKey()))) {
                        taints.add(
                                new TaintBuilder()
                                        .withKey(MAINTENANCE_TAINT)
                                        .withValue("true")
                                        .withEffect("NoExecute")
                                        .build());
                    }
                });
    }

    public void untaint(String node) {
        editTaints(node, taints -> taints.removeIf(t -> MAINTENANCE_TAINT.equals(t.getKey())));
    }

    private void editTaints(String node, java.util.function.Consumer<List<Taint>> change) {
        client.nodes()
                .withName(node)
                .edit(
                        n -> {
                            List<Taint> taints =
                                    new ArrayList<>(
                                            n.getSpec().getTaints() == null
                                                    ? List.of()
                                                    : n.getSpec().getTaints());
                            change.accept(taints);
                            n.getSpec().setTaints(taints);
                            return n;
                        });
    }

    /**
     * Deletes the Node object, as a cloud provider does for a reclaimed spot instance:
     * kube-controller-manager's PodGC deletes the pods still bound to it (after its quarantine,
     * about 40 s) with DisruptionTarget=DeletionByPodGC.
     */
    public void deleteNode(String node) {
        client.nodes().withName(node).delete();
    }

    /** The reasons {@link #disrupt} makes a component write. */
    public static final List<String> REASONS =
            List.of("PreemptionByScheduler", "EvictionByEvictionAPI", "DeletionByTaintManager");

    /**
     * Makes the component behind {@code reason} (one of {@link #REASONS}) disrupt {@code victim}
     * and waits until the victim is gone, then removes the preemptor or taint again: kube-scheduler
     * preempts every lower-priority pod on the victim's node for a preemptor that needs all of the
     * node's {@code nvidia.com/gpu}; the Eviction API evicts the victim alone; the taint-eviction
     * controller deletes every pod on the victim's node after a NoExecute taint.
     */
    public void disrupt(Pod victim, String reason, java.time.Duration timeout) {
        String node = victim.getSpec().getNodeName();
        switch (reason) {
            case "PreemptionByScheduler" -> {
                var allocatable = client.nodes().withName(node).get().getStatus().getAllocatable();
                Quantity gpus = allocatable == null ? null : allocatable.get("nvidia.com/gpu");
                if (gpus == null) {
                    throw new IllegalStateException(
                            "node " + node + " advertises no nvidia.com/gpu to preempt for");
                }
                Pod preemptor = preemptByScheduler(victim, "nvidia.com/gpu", gpus.toString());
                try {
                    awaitGone(
                            victim,
                            timeout,
                            () -> {
                                Pod p =
                                        client.pods()
                                                .inNamespace(preemptor.getMetadata().getNamespace())
                                                .withName(preemptor.getMetadata().getName())
                                                .get();
                                Pod v =
                                        client.pods()
                                                .inNamespace(victim.getMetadata().getNamespace())
                                                .withName(victim.getMetadata().getName())
                                                .get();
                                if (p != null
                                        && p.getSpec().getNodeName() != null
                                        && v != null
                                        && victim.getMetadata()
                                                .getUid()
                                                .equals(v.getMetadata().getUid())
                                        && v.getMetadata().getDeletionTimestamp() == null) {
                                    throw new IllegalStateException(
                                            "the preemptor fit on "
                                                    + node
                                                    + " without preempting "
                                                    + victim.getMetadata().getName()
                                                    + ": the victim holds none of the node's nvidia.com/gpu");
                                }
                            });
                } finally {
                    removePreemptor(preemptor);
                }
            }
            case "EvictionByEvictionAPI" -> {
                if (!evict(victim)) {
                    throw new IllegalStateException(
                            "eviction of "
                                    + victim.getMetadata().getName()
                                    + " refused (a PodDisruptionBudget?)");
                }
                awaitGone(victim, timeout);
            }
            case "DeletionByTaintManager" -> {
                taintNoExecute(node);
                try {
                    awaitGone(victim, timeout);
                } finally {
                    untaint(node);
                }
            }
            default ->
                    throw new IllegalArgumentException(
                            "no such disruption: " + reason + " (one of " + REASONS + ")");
        }
    }

    /** Waits until this very pod (its UID) no longer exists. */
    public void awaitGone(Pod pod, java.time.Duration timeout) {
        awaitGone(pod, timeout, () -> {});
    }

    /**
     * {@link #awaitGone(Pod, java.time.Duration)}, running {@code check} (which may throw) at every
     * poll.
     */
    private void awaitGone(Pod pod, java.time.Duration timeout, Runnable check) {
        String ns = pod.getMetadata().getNamespace();
        String name = pod.getMetadata().getName();
        String uid = pod.getMetadata().getUid();
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            Pod now = client.pods().inNamespace(ns).withName(name).get();
            if (now == null || !uid.equals(now.getMetadata().getUid())) {
                return;
            }
            check.run();
            try {
                Thread.sleep(200);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted", e);
            }
        }
        throw new IllegalStateException(
                "pod "
                        + ns
                        + "/"
                        + name
                        + " (uid "
                        + uid
                        + ") still exists "
                        + timeout
                        + " after its disruption");
    }
}
