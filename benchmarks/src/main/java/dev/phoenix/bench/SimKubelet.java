package dev.phoenix.bench;

import io.fabric8.kubernetes.api.model.BindingBuilder;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.Watch;
import io.fabric8.kubernetes.client.Watcher;
import io.fabric8.kubernetes.client.WatcherException;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import java.time.Instant;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * A status-writing kubelet for pods that need no process (as the operator's KubeletSim, but with
 * several workers for 1,000 jobs, and acting on the watch event's object instead of re-reading it):
 * binds a new pod to its node, reports it Running, and finishes a graceful deletion at once (the
 * container "exits" 143, then DELETE with grace 0). All requests go through its own client.
 */
public final class SimKubelet implements AutoCloseable {
    public static final String NODE = "sim-node";
    private final KubernetesClient client;
    private final String namespace;
    private final ExecutorService[] workers;
    private final Set<String> running = ConcurrentHashMap.newKeySet();
    private final Set<String> finished = ConcurrentHashMap.newKeySet();
    private Watch watch;

    public SimKubelet(KubernetesClient client, String namespace, int threads) {
        this.client = client;
        this.namespace = namespace;
        this.workers = new ExecutorService[threads];
        for (int i = 0; i < threads; i++) {
            workers[i] = Executors.newSingleThreadExecutor(r -> {
                Thread t = new Thread(r, "sim-kubelet");
                t.setDaemon(true);
                return t;
            });
        }
    }

    public SimKubelet start() {
        client.nodes().resource(new NodeBuilder().withNewMetadata().withName(NODE).endMetadata()
                .withNewStatus().addNewCondition().withType("Ready").withStatus("True").endCondition().endStatus()
                .build()).createOr(n -> n.update());
        watch = client.pods().inNamespace(namespace).watch(new Watcher<>() {
            @Override
            public void eventReceived(Action action, Pod pod) {
                if (action == Action.DELETED || action == Action.ERROR) {
                    return;
                }
                String uid = pod.getMetadata().getUid();
                // One worker per pod (by name), so a pod's events are handled in order.
                workers[Math.floorMod(pod.getMetadata().getName().hashCode(), workers.length)].submit(() -> handle(pod, uid));
            }

            @Override
            public void onClose(WatcherException cause) {}
        });
        return this;
    }

    private void handle(Pod pod, String uid) {
        String name = pod.getMetadata().getName();
        try {
            if (pod.getMetadata().getDeletionTimestamp() != null) {
                if (finished.add(uid)) {
                    if (!terminal(pod)) {
                        status(name, terminatedJson(pod, 143, "Error"));
                    }
                    client.pods().inNamespace(namespace).withName(name).withGracePeriod(0).delete();
                }
            } else if (!terminal(pod) && running.add(uid)) {
                if (pod.getSpec().getNodeName() == null) {
                    client.bindings().inNamespace(namespace).resource(new BindingBuilder().withNewMetadata().withName(name)
                            .endMetadata().withNewTarget().withKind("Node").withApiVersion("v1").withName(NODE).endTarget()
                            .build()).create();
                }
                String now = Instant.now().toString();
                StringBuilder cs = new StringBuilder();
                for (var c : pod.getSpec().getContainers()) {
                    cs.append(cs.length() == 0 ? "" : ",").append("{\"name\":\"").append(c.getName()).append("\",\"image\":\"")
                            .append(c.getImage()).append("\",\"imageID\":\"\",\"restartCount\":0,\"ready\":true,\"state\":{\"running\":{\"startedAt\":\"")
                            .append(now).append("\"}}}");
                }
                status(name, "{\"status\":{\"phase\":\"Running\",\"startTime\":\"" + now + "\",\"podIP\":\"127.0.0.1\",\"hostIP\":\"127.0.0.1\","
                        + "\"containerStatuses\":[" + cs + "]}}");
            }
        } catch (KubernetesClientException e) {
            if (e.getCode() != 404 && e.getCode() != 409) {
                BenchEnv.log("sim kubelet: %s: %s", name, e.getMessage());
            }
        } catch (RuntimeException e) {
            BenchEnv.log("sim kubelet: %s: %s", name, e);
        }
    }

    /** Every container of the pod exits with {@code code} by itself (0: the job's work is done). */
    public void exit(Pod pod, int code) {
        status(pod.getMetadata().getName(), terminatedJson(pod, code, code == 0 ? "Completed" : "Error"));
    }

    private static String terminatedJson(Pod pod, int code, String reason) {
        String now = Instant.now().toString();
        StringBuilder cs = new StringBuilder();
        for (var c : pod.getSpec().getContainers()) {
            cs.append(cs.length() == 0 ? "" : ",").append("{\"name\":\"").append(c.getName()).append("\",\"image\":\"")
                    .append(c.getImage()).append("\",\"imageID\":\"\",\"restartCount\":0,\"ready\":false,\"state\":{\"terminated\":{\"exitCode\":")
                    .append(code).append(",\"reason\":\"").append(reason).append("\",\"finishedAt\":\"").append(now).append("\"}}}");
        }
        return "{\"status\":{\"phase\":\"" + (code == 0 ? "Succeeded" : "Failed") + "\",\"containerStatuses\":[" + cs + "]}}";
    }

    private void status(String name, String mergePatch) {
        client.pods().inNamespace(namespace).withName(name).subresource("status")
                .patch(PatchContext.of(PatchType.STRATEGIC_MERGE), mergePatch);
    }

    private static boolean terminal(Pod p) {
        return p.getStatus() != null && ("Failed".equals(p.getStatus().getPhase()) || "Succeeded".equals(p.getStatus().getPhase()));
    }

    @Override
    public void close() {
        if (watch != null) {
            watch.close();
        }
        for (ExecutorService w : workers) {
            w.shutdownNow();
        }
    }
}
