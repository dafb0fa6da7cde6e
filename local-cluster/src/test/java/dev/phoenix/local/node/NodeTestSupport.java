package dev.phoenix.local.node;

import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.PodCondition;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.Watch;
import io.fabric8.kubernetes.client.Watcher;
import io.fabric8.kubernetes.client.WatcherException;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.awaitility.Awaitility.await;

/** Pods and waits shared by the local node tests. */
final class NodeTestSupport {

    static final Duration TIMEOUT = Duration.ofSeconds(90);

    private NodeTestSupport() {
    }

    /** A pod of {@code image: local/sh} running {@code sh -c script}, bound directly to {@code node} (no scheduler). */
    static PodBuilder shPod(String name, String node, String script) {
        return new PodBuilder().withNewMetadata().withName(name).endMetadata()
                .withNewSpec().withNodeName(node).withRestartPolicy("Never").withTerminationGracePeriodSeconds(10L)
                .withAutomountServiceAccountToken(false)
                .addNewContainer().withName("main").withImage("local/sh").withCommand("sh", "-c", script).endContainer()
                .endSpec();
    }

    static Pod create(KubernetesClient client, String ns, Pod pod) {
        return client.pods().inNamespace(ns).resource(pod).create();
    }

    static Pod get(KubernetesClient client, String ns, String name) {
        return client.pods().inNamespace(ns).withName(name).get();
    }

    static Pod awaitPhase(KubernetesClient client, String ns, String name, String phase) {
        await().atMost(TIMEOUT).pollInterval(Duration.ofMillis(200)).until(() -> {
            Pod p = get(client, ns, name);
            return p != null && p.getStatus() != null && phase.equals(p.getStatus().getPhase());
        });
        return get(client, ns, name);
    }

    /** Waits until the container runs (and the file its script writes at start exists, if given). */
    static Pod awaitRunning(KubernetesClient client, String ns, String name, Path startedFile) {
        await().atMost(TIMEOUT).pollInterval(Duration.ofMillis(200)).until(() -> {
            Pod p = get(client, ns, name);
            return p != null && p.getStatus() != null && "Running".equals(p.getStatus().getPhase())
                    && (startedFile == null || startedFile.toFile().exists());
        });
        return get(client, ns, name);
    }

    static void awaitGone(KubernetesClient client, String ns, String name) {
        await().atMost(TIMEOUT).pollInterval(Duration.ofMillis(200)).until(() -> get(client, ns, name) == null);
    }

    static ContainerStatus status(Pod p, String container) {
        return p.getStatus().getContainerStatuses().stream().filter(c -> c.getName().equals(container)).findFirst().orElseThrow();
    }

    static Optional<PodCondition> condition(Pod p, String type) {
        if (p.getStatus() == null || p.getStatus().getConditions() == null) {
            return Optional.empty();
        }
        return p.getStatus().getConditions().stream().filter(c -> type.equals(c.getType())).findFirst();
    }

    /** Records every version of a pod the API server shows, until closed. */
    static final class Recorder implements Watcher<Pod>, AutoCloseable {
        final List<Pod> versions = new CopyOnWriteArrayList<>();
        volatile boolean deleted;
        private final Watch watch;

        Recorder(KubernetesClient client, String ns, String name) {
            this.watch = client.pods().inNamespace(ns).withName(name).watch(this);
        }

        @Override
        public void eventReceived(Action action, Pod resource) {
            versions.add(resource);
            if (action == Action.DELETED) {
                deleted = true;
            }
        }

        @Override
        public void onClose(WatcherException cause) {
        }

        Pod last() {
            return versions.isEmpty() ? null : versions.get(versions.size() - 1);
        }

        /** The last version in which the container was terminated. */
        ContainerStatus lastTerminated(String container) {
            for (int i = versions.size() - 1; i >= 0; i--) {
                Pod p = versions.get(i);
                if (p.getStatus() != null && p.getStatus().getContainerStatuses() != null) {
                    for (ContainerStatus cs : p.getStatus().getContainerStatuses()) {
                        if (cs.getName().equals(container) && cs.getState() != null && cs.getState().getTerminated() != null) {
                            return cs;
                        }
                    }
                }
            }
            return null;
        }

        boolean sawCondition(String type, String reason) {
            return versions.stream().anyMatch(p -> condition(p, type).filter(c -> "True".equals(c.getStatus()) && reason.equals(c.getReason())).isPresent());
        }

        @Override
        public void close() {
            watch.close();
        }
    }
}
