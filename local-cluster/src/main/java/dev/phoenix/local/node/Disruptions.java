package dev.phoenix.local.node;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodCondition;
import io.fabric8.kubernetes.api.model.PodConditionBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * Disrupts pods exactly as a cluster does: a {@code DisruptionTarget} condition followed by a graceful
 * delete (what 1.26+ components do), the Eviction API, hard node loss, graceful node shutdown, or an
 * application failure (a process that exits non-zero by itself).
 */
public final class Disruptions {

    private static final Logger log = LoggerFactory.getLogger(Disruptions.class);

    public static final String DISRUPTION_TARGET = "DisruptionTarget";
    public static final String PREEMPTION_BY_SCHEDULER = "PreemptionByScheduler";
    public static final String EVICTION_BY_EVICTION_API = "EvictionByEvictionAPI";
    public static final String DELETION_BY_TAINT_MANAGER = "DeletionByTaintManager";
    public static final String DELETION_BY_POD_GC = "DeletionByPodGC";
    public static final String TERMINATION_BY_KUBELET = "TerminationByKubelet";
    public static final List<String> REASONS = List.of(PREEMPTION_BY_SCHEDULER, EVICTION_BY_EVICTION_API,
            DELETION_BY_TAINT_MANAGER, DELETION_BY_POD_GC, TERMINATION_BY_KUBELET);
    public static final String NODE_SHUTDOWN_REASON = "Terminated";
    public static final String NODE_SHUTDOWN_MESSAGE = "Pod was terminated in response to imminent node shutdown.";

    private final KubernetesClient client;
    private final List<LocalNode> nodes;

    /** @param nodes the local nodes (in this JVM) whose processes node loss / kill may touch */
    public Disruptions(KubernetesClient client, LocalNode... nodes) {
        this.client = client;
        this.nodes = List.of(nodes);
    }

    /** The message upstream components write with each reason. */
    public static String defaultMessage(String reason, Pod pod) {
        return switch (reason) {
            case PREEMPTION_BY_SCHEDULER -> (pod.getSpec().getSchedulerName() == null ? "default-scheduler" : pod.getSpec().getSchedulerName())
                    + ": preempting to accommodate a higher priority pod";
            case EVICTION_BY_EVICTION_API -> "Eviction API: evicting";
            case DELETION_BY_TAINT_MANAGER -> "Taint manager: deleting due to NoExecute taint";
            case DELETION_BY_POD_GC -> "PodGC: node no longer exists";
            case TERMINATION_BY_KUBELET -> NODE_SHUTDOWN_MESSAGE;
            default -> reason;
        };
    }

    /** DisruptionTarget condition with {@code reason}, then a delete with the pod's grace period. */
    public void disruptionTarget(String namespace, String name, String reason) {
        disruptionTarget(namespace, name, reason, null, null);
    }

    public void disruptionTarget(Pod pod, String reason) {
        disruptionTarget(pod.getMetadata().getNamespace(), pod.getMetadata().getName(), reason, null, null);
    }

    /**
     * @param message null for the upstream message
     * @param gracePeriodSeconds null for the pod's terminationGracePeriodSeconds
     */
    public void disruptionTarget(String namespace, String name, String reason, String message, Long gracePeriodSeconds) {
        if (!REASONS.contains(reason)) {
            throw new IllegalArgumentException("unknown DisruptionTarget reason " + reason + "; one of " + REASONS);
        }
        Pod pod = addCondition(namespace, name, reason, message);
        if (pod == null) {
            return;
        }
        var op = client.pods().inNamespace(namespace).withName(name);
        if (gracePeriodSeconds != null) {
            op.withGracePeriod(gracePeriodSeconds).delete();
        } else {
            op.delete();
        }
        log.info("disruption: {}/{} {} and deleted", namespace, name, reason);
    }

    /** Adds (or refreshes) the DisruptionTarget condition through the status subresource; null if the pod is gone. */
    public Pod addCondition(String namespace, String name, String reason, String message) {
        for (int attempt = 0; attempt < 20; attempt++) {
            Pod pod = client.pods().inNamespace(namespace).withName(name).get();
            if (pod == null) {
                return null;
            }
            PodCondition c = new PodConditionBuilder().withType(DISRUPTION_TARGET).withStatus("True").withReason(reason)
                    .withMessage(message != null ? message : defaultMessage(reason, pod))
                    .withLastTransitionTime(Instant.now().truncatedTo(ChronoUnit.SECONDS).toString()).build();
            List<PodCondition> conds = new ArrayList<>();
            if (pod.getStatus().getConditions() != null) {
                pod.getStatus().getConditions().stream().filter(x -> !DISRUPTION_TARGET.equals(x.getType())).forEach(conds::add);
            }
            conds.add(c);
            pod.getStatus().setConditions(conds);
            try {
                return client.pods().inNamespace(namespace).resource(pod).updateStatus();
            } catch (KubernetesClientException e) {
                if (e.getCode() == 404) {
                    return null;
                }
                if (e.getCode() != 409) {
                    throw e;
                }
            }
        }
        throw new IllegalStateException("could not add DisruptionTarget to " + namespace + "/" + name + ": too many conflicts");
    }

    /**
     * The Eviction API (policy/v1beta1 on a 1.20 server): true when the eviction was accepted, false when a
     * PodDisruptionBudget refused it (HTTP 429).
     */
    public boolean evict(String namespace, String name) {
        return client.pods().inNamespace(namespace).withName(name).evict();
    }

    /** As a 1.26+ API server does: the DisruptionTarget condition EvictionByEvictionAPI, then the eviction. */
    public boolean evictWithCondition(String namespace, String name) {
        if (addCondition(namespace, name, EVICTION_BY_EVICTION_API, null) == null) {
            return false;
        }
        return evict(namespace, name);
    }

    /** Hard node loss with the Node deleted and its pods force-deleted (what PodGC does). */
    public void nodeLoss(LocalNode node) {
        nodeLoss(node, true, true);
    }

    /**
     * Hard node loss: SIGKILL every process of the node at once and stop heart-beating (the agent is dead).
     *
     * @param deleteNode delete the Node object (else it stays, goes NotReady/Unknown, and a running
     *                   kube-controller-manager taints it and evicts its pods after their tolerationSeconds)
     * @param forceDeletePods force-delete the node's pods right away (with DisruptionTarget DeletionByPodGC,
     *                        as PodGC does for pods of a deleted node) instead of waiting for the controller manager
     */
    public void nodeLoss(LocalNode node, boolean deleteNode, boolean forceDeletePods) {
        node.die();
        afterNodeLoss(node.name(), deleteNode, forceDeletePods);
    }

    /**
     * Node loss of an agent running in another process (the CLI): SIGKILL the agent (from
     * {@code <workDir>/agent.pid}) and every container process it recorded, then as {@link #nodeLoss}.
     */
    public void nodeLoss(Path agentWorkDir, boolean deleteNode, boolean forceDeletePods) throws IOException {
        String nodeName = Files.readString(agentWorkDir.resolve("node-name")).trim();
        List<Long> pids = new ArrayList<>();
        Path agentPid = agentWorkDir.resolve("agent.pid");
        if (Files.exists(agentPid)) {
            pids.add(Long.parseLong(Files.readString(agentPid).trim()));
        }
        Path pods = agentWorkDir.resolve("pods");
        if (Files.isDirectory(pods)) {
            try (Stream<Path> s = Files.walk(pods, 4)) {
                for (Path p : (Iterable<Path>) s.filter(f -> f.getFileName().toString().equals("pid"))::iterator) {
                    pids.add(Long.parseLong(Files.readString(p).trim()));
                }
            }
        }
        List<ProcessHandle> all = new ArrayList<>();
        for (long pid : pids) {
            ProcessHandle.of(pid).ifPresent(h -> {
                all.add(h);
                h.descendants().forEach(all::add);
            });
        }
        all.forEach(ProcessHandle::destroyForcibly);
        afterNodeLoss(nodeName, deleteNode, forceDeletePods);
    }

    private void afterNodeLoss(String nodeName, boolean deleteNode, boolean forceDeletePods) {
        if (deleteNode) {
            client.nodes().withName(nodeName).delete();
            log.info("disruption: node {} lost and deleted", nodeName);
        } else {
            log.info("disruption: node {} lost (stopped heart-beating)", nodeName);
        }
        if (forceDeletePods) {
            for (Pod p : client.pods().inAnyNamespace().withField("spec.nodeName", nodeName).list().getItems()) {
                String ns = p.getMetadata().getNamespace();
                String n = p.getMetadata().getName();
                try {
                    addCondition(ns, n, deleteNode ? DELETION_BY_POD_GC : DELETION_BY_TAINT_MANAGER, null);
                    client.pods().inNamespace(ns).withName(n).withGracePeriod(0).delete();
                } catch (KubernetesClientException e) {
                    log.warn("force delete {}/{}: {}", ns, n, e.getMessage());
                }
            }
        }
    }

    /**
     * Graceful node shutdown as the 1.21+ kubelet does it: every pod gets DisruptionTarget
     * TerminationByKubelet, SIGTERM, up to {@code grace}, SIGKILL, then phase Failed with reason
     * {@code Terminated} and message {@value #NODE_SHUTDOWN_MESSAGE}; the pods are not deleted; the node
     * then reports NotReady and stops heart-beating.
     */
    public void nodeShutdown(LocalNode node, Duration grace) {
        for (PodWorker w : node.workers()) {
            try {
                addCondition(w.namespace, w.name, TERMINATION_BY_KUBELET, NODE_SHUTDOWN_MESSAGE);
            } catch (KubernetesClientException e) {
                log.warn("shutdown {}/{}: {}", w.namespace, w.name, e.getMessage());
            }
        }
        node.shutdown(grace);
    }

    /** An application failure: SIGKILL the container's processes; the container exits 137 (reason Error) by itself. */
    public void kill(String namespace, String pod, String container) {
        kill(namespace, pod, container, "KILL");
    }

    /**
     * Sends {@code signal} (KILL, SEGV, ABRT, INT, ...) to the container's processes. Not a preemption: no
     * condition, no deletion; the pod's restartPolicy decides what follows.
     */
    public void kill(String namespace, String pod, String container, String signal) {
        for (LocalNode n : nodes) {
            PodWorker w = n.worker(namespace, pod);
            if (w != null && w.signalContainer(container, signal)) {
                return;
            }
        }
        throw new IllegalStateException("no running container " + container + " of " + namespace + "/" + pod + " on the given local nodes");
    }

    /** {@link #kill} for an agent in another process, through its pid files. */
    public static void kill(Path agentWorkDir, String namespace, String pod, String container, String signal) throws IOException {
        Path pods = agentWorkDir.resolve("pods");
        try (Stream<Path> s = Files.list(pods)) {
            for (Path d : (Iterable<Path>) s.filter(p -> p.getFileName().toString().startsWith(namespace + "_" + pod + "_"))::iterator) {
                Path pidFile = d.resolve("containers").resolve(container).resolve("pid");
                if (Files.exists(pidFile)) {
                    long pid = Long.parseLong(Files.readString(pidFile).trim());
                    var h = ProcessHandle.of(pid);
                    if (h.isPresent() && h.get().isAlive()) {
                        Sandbox.signal(h.get(), signal, false);
                        return;
                    }
                }
            }
        }
        throw new IllegalStateException("no running container " + container + " of " + namespace + "/" + pod + " under " + agentWorkDir);
    }
}
