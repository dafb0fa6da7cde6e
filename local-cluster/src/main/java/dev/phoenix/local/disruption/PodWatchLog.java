package dev.phoenix.local.disruption;

import io.fabric8.kubernetes.api.model.ManagedFieldsEntry;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodCondition;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.Watch;
import io.fabric8.kubernetes.client.Watcher;
import io.fabric8.kubernetes.client.WatcherException;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Every version of every pod of a namespace as the API server delivered it, by UID, deleted pods
 * included: what a test needs to see the condition a component wrote on a pod that is gone by the
 * time the test looks, and who wrote it.
 */
public final class PodWatchLog implements AutoCloseable {
    public static final String DISRUPTION_TARGET = "DisruptionTarget";

    private final Map<String, Pod> last = new ConcurrentHashMap<>();
    private final Watch watch;

    public PodWatchLog(KubernetesClient client, String namespace) {
        watch =
                client.pods()
                        .inNamespace(namespace)
                        .watch(
                                new Watcher<>() {
                                    @Override
                                    public void eventReceived(Action action, Pod pod) {
                                        last.merge(
                                                pod.getMetadata().getUid(),
                                                pod,
                                                PodWatchLog::newer);
                                    }

                                    @Override
                                    public void onClose(WatcherException cause) {}
                                });
    }

    private static Pod newer(Pod a, Pod b) {
        try {
            return Long.parseLong(b.getMetadata().getResourceVersion())
                            >= Long.parseLong(a.getMetadata().getResourceVersion())
                    ? b
                    : a;
        } catch (NumberFormatException e) {
            return b;
        }
    }

    /** The newest version seen of the pod with this UID. */
    public Optional<Pod> lastSeen(String uid) {
        return Optional.ofNullable(last.get(uid));
    }

    public Optional<PodCondition> disruptionTarget(String uid) {
        return lastSeen(uid)
                .flatMap(
                        p ->
                                p.getStatus() == null || p.getStatus().getConditions() == null
                                        ? Optional.empty()
                                        : p.getStatus().getConditions().stream()
                                                .filter(c -> DISRUPTION_TARGET.equals(c.getType()))
                                                .findFirst());
    }

    /**
     * The field manager that owns the pod's DisruptionTarget condition (server-side field
     * ownership, recorded by the API server for whoever wrote it), if any.
     */
    public Optional<String> disruptionTargetWriter(String uid) {
        return lastSeen(uid).flatMap(p -> managerOf(p.getMetadata().getManagedFields()));
    }

    private static Optional<String> managerOf(List<ManagedFieldsEntry> entries) {
        if (entries == null) {
            return Optional.empty();
        }
        String key = "k:{\"type\":\"" + DISRUPTION_TARGET + "\"}";
        return entries.stream()
                .filter(
                        e ->
                                e.getFieldsV1() != null
                                        && Serialization.asJson(e.getFieldsV1())
                                                .contains(key.replace("\"", "\\\"")))
                .map(ManagedFieldsEntry::getManager)
                .findFirst();
    }

    @Override
    public void close() {
        watch.close();
    }
}
