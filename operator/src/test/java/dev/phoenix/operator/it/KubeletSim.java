package dev.phoenix.operator.it;

import io.fabric8.kubernetes.api.model.ContainerStatusBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodCondition;
import io.fabric8.kubernetes.api.model.PodConditionBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.Watch;
import io.fabric8.kubernetes.client.Watcher;
import io.fabric8.kubernetes.client.WatcherException;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.UnaryOperator;

/**
 * Plays the kubelet for operator tests that do not need real processes: it writes pod status through
 * the status subresource exactly as a kubelet does (Running, then terminated with an exit code and a
 * termination message) and finishes graceful deletions (terminated 143, then delete with grace 0).
 * The end-to-end suite runs the real local node agent instead. The install tests reuse it: it plays a
 * component with the admin client, not the identities under test.
 */
public final class KubeletSim implements AutoCloseable {
    static final String NODE = "sim-node";
    private final KubernetesClient client;
    private final String namespace;
    private final ExecutorService worker = Executors.newSingleThreadExecutor();
    private volatile boolean finishDeletions = true;
    private volatile boolean autoRun = true;
    private Watch watch;

    public KubeletSim(KubernetesClient client, String namespace) {
        this.client = client;
        this.namespace = namespace;
    }

    public KubeletSim start() {
        // Pods bound to a node are deleted gracefully (the kubelet confirms); unbound ones vanish at once.
        client.nodes().resource(new io.fabric8.kubernetes.api.model.NodeBuilder().withNewMetadata()
                .withName(NODE).endMetadata().build()).createOr(n -> n.update());
        watch = client.pods().inNamespace(namespace).watch(new Watcher<>() {
            @Override
            public void eventReceived(Action action, Pod pod) {
                if (action == Action.DELETED) {
                    return;
                }
                worker.submit(() -> handle(pod.getMetadata().getName()));
            }

            @Override
            public void onClose(WatcherException cause) {}
        });
        return this;
    }

    void finishDeletions(boolean on) {
        finishDeletions = on;
        if (on) {
            client.pods().inNamespace(namespace).list().getItems()
                    .forEach(p -> worker.submit(() -> handle(p.getMetadata().getName())));
        }
    }

    void autoRun(boolean on) {
        autoRun = on;
    }

    private void handle(String name) {
        try {
            Pod pod = client.pods().inNamespace(namespace).withName(name).get();
            if (pod == null) {
                return;
            }
            if (pod.getMetadata().getDeletionTimestamp() != null) {
                if (finishDeletions) {
                    if (!terminal(pod)) {
                        exit(name, 143, "");
                    }
                    client.pods().inNamespace(namespace).withName(name).withGracePeriod(0).delete();
                }
            } else if (autoRun && (pod.getStatus() == null || pod.getStatus().getPhase() == null
                    || "Pending".equals(pod.getStatus().getPhase()))) {
                run(name);
            }
        } catch (KubernetesClientException e) {
            if (e.getCode() != 404 && e.getCode() != 409) {
                throw e;
            }
        }
    }

    private static boolean terminal(Pod p) {
        return p.getStatus() != null && ("Failed".equals(p.getStatus().getPhase())
                || "Succeeded".equals(p.getStatus().getPhase()));
    }

    void run(String name) {
        Pod current = client.pods().inNamespace(namespace).withName(name).get();
        if (current != null && current.getSpec().getNodeName() == null) {
            client.bindings().inNamespace(namespace).resource(new io.fabric8.kubernetes.api.model.BindingBuilder()
                    .withNewMetadata().withName(name).endMetadata()
                    .withNewTarget().withKind("Node").withApiVersion("v1").withName(NODE).endTarget().build())
                    .create();
        }
        updateStatus(name, p -> {
            String now = Instant.now().toString();
            p.getStatus().setPhase("Running");
            p.getStatus().setStartTime(now);
            p.getStatus().setPodIP("127.0.0.1");
            p.getStatus().setContainerStatuses(p.getSpec().getContainers().stream()
                    .map(c -> new ContainerStatusBuilder().withName(c.getName()).withImage(c.getImage())
                            .withReady(true).withNewState().withNewRunning().withStartedAt(now).endRunning()
                            .endState().build())
                    .toList());
            return p;
        });
    }

    /** The container exits by itself with this code and termination message. */
    public void exit(String name, int code, String message) {
        updateStatus(name, p -> {
            String now = Instant.now().toString();
            p.getStatus().setPhase(code == 0 ? "Succeeded" : "Failed");
            p.getStatus().setContainerStatuses(p.getSpec().getContainers().stream()
                    .map(c -> new ContainerStatusBuilder().withName(c.getName()).withImage(c.getImage())
                            .withReady(false).withNewState().withNewTerminated().withExitCode(code)
                            .withReason(code == 0 ? "Completed" : "Error").withMessage(message)
                            .withFinishedAt(now).endTerminated().endState().build())
                    .toList());
            return p;
        });
    }

    /** What a ≥1.26 component does before it deletes a pod it preempts or evicts. */
    void disruptionTarget(String name, String reason) {
        updateStatus(name, p -> {
            PodCondition c = new PodConditionBuilder().withType("DisruptionTarget").withStatus("True")
                    .withReason(reason).withMessage("simulated " + reason)
                    .withLastTransitionTime(Instant.now().toString()).build();
            List<PodCondition> conditions = new java.util.ArrayList<>(p.getStatus().getConditions() == null
                    ? List.of() : p.getStatus().getConditions());
            conditions.add(c);
            p.getStatus().setConditions(conditions);
            return p;
        });
        client.pods().inNamespace(namespace).withName(name).delete();
    }

    private void updateStatus(String name, UnaryOperator<Pod> change) {
        for (int i = 0; i < 10; i++) {
            try {
                client.pods().inNamespace(namespace).withName(name).editStatus(p -> {
                    if (p.getStatus() == null) {
                        p.setStatus(new io.fabric8.kubernetes.api.model.PodStatus());
                    }
                    return change.apply(p);
                });
                return;
            } catch (KubernetesClientException e) {
                if (e.getCode() != 409) {
                    throw e;
                }
            }
        }
    }

    @Override
    public void close() {
        if (watch != null) {
            watch.close();
        }
        worker.shutdownNow();
    }
}
