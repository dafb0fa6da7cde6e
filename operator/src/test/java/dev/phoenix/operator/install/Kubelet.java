package dev.phoenix.operator.install;

import io.fabric8.kubernetes.api.model.ContainerStatusBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodStatus;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.Watch;
import io.fabric8.kubernetes.client.Watcher;
import io.fabric8.kubernetes.client.WatcherException;
import java.time.Instant;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.UnaryOperator;

/**
 * The few lines of the operator tests' KubeletSim (package dev.phoenix.operator.it, package-private) these
 * tests need: pods go Running, graceful deletions finish (exit 143, then delete with grace 0), and a test can
 * make a container exit. Uses the admin client: it plays a component, not the identities under test.
 */
final class Kubelet implements AutoCloseable {
    private final KubernetesClient client;
    private final String namespace;
    private final ExecutorService worker = Executors.newSingleThreadExecutor();
    private Watch watch;

    Kubelet(KubernetesClient client, String namespace) {
        this.client = client;
        this.namespace = namespace;
    }

    Kubelet start() {
        watch = client.pods().inNamespace(namespace).watch(new Watcher<>() {
            @Override
            public void eventReceived(Action action, Pod pod) {
                if (action != Action.DELETED) {
                    worker.submit(() -> handle(pod.getMetadata().getName()));
                }
            }

            @Override
            public void onClose(WatcherException cause) {}
        });
        return this;
    }

    private void handle(String name) {
        try {
            Pod pod = client.pods().inNamespace(namespace).withName(name).get();
            if (pod == null) {
                return;
            }
            String phase = pod.getStatus() == null ? null : pod.getStatus().getPhase();
            if (pod.getMetadata().getDeletionTimestamp() != null) {
                if (!"Failed".equals(phase) && !"Succeeded".equals(phase)) {
                    exit(name, 143, "");
                }
                client.pods().inNamespace(namespace).withName(name).withGracePeriod(0).delete();
            } else if (phase == null || "Pending".equals(phase)) {
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
        } catch (KubernetesClientException e) {
            if (e.getCode() != 404 && e.getCode() != 409) {
                throw e;
            }
        }
    }

    /** The container exits by itself with this code and termination message. */
    void exit(String name, int code, String message) {
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

    private void updateStatus(String name, UnaryOperator<Pod> change) {
        for (int i = 0; i < 10; i++) {
            try {
                client.pods().inNamespace(namespace).withName(name).editStatus(p -> {
                    if (p.getStatus() == null) {
                        p.setStatus(new PodStatus());
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
