package dev.phoenix.bench;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.Watch;
import io.fabric8.kubernetes.client.Watcher;
import io.fabric8.kubernetes.client.WatcherException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Watches the pods of a namespace and records, per pod, when this JVM received the watch events
 * that matter (System.nanoTime of delivery): created, DisruptionTarget condition seen, deletion
 * timestamp seen, Running, terminated (with its termination message), gone.
 */
public final class PodRecorder implements AutoCloseable {
    /** Times are System.nanoTime() of the watch event's delivery; 0 = not seen (yet). */
    public static final class Trace {
        public final String name;
        public final String uid;
        public final String job;
        public final int attempt;
        public volatile long added;
        public volatile long disruption;
        public volatile long deletion;
        public volatile long running;
        public volatile long terminated;
        public volatile long gone;
        public volatile String terminationMessage;
        public volatile Pod last;

        public Trace(Pod p) {
            this.name = p.getMetadata().getName();
            this.uid = p.getMetadata().getUid();
            Map<String, String> l =
                    p.getMetadata().getLabels() == null ? Map.of() : p.getMetadata().getLabels();
            this.job = l.get("phoenix.dev/job");
            this.attempt = Integer.parseInt(l.getOrDefault("phoenix.dev/attempt", "0"));
        }
    }

    private final Map<String, Trace> byUid = new ConcurrentHashMap<>();
    private final Watch watch;

    public PodRecorder(KubernetesClient client, String namespace) {
        watch =
                client.pods()
                        .inNamespace(namespace)
                        .withLabel("phoenix.dev/job")
                        .watch(
                                new Watcher<>() {
                                    @Override
                                    public void eventReceived(Action action, Pod pod) {
                                        long now = System.nanoTime();
                                        Trace t =
                                                byUid.computeIfAbsent(
                                                        pod.getMetadata().getUid(),
                                                        u -> new Trace(pod));
                                        t.last = pod;
                                        if (t.added == 0) {
                                            t.added = now;
                                        }
                                        if (t.disruption == 0
                                                && pod.getStatus() != null
                                                && pod.getStatus().getConditions() != null
                                                && pod.getStatus().getConditions().stream()
                                                        .anyMatch(
                                                                c ->
                                                                        "DisruptionTarget"
                                                                                .equals(
                                                                                        c
                                                                                                .getType()))) {
                                            t.disruption = now;
                                        }
                                        if (t.deletion == 0
                                                && pod.getMetadata().getDeletionTimestamp()
                                                        != null) {
                                            t.deletion = now;
                                        }
                                        if (pod.getStatus() != null
                                                && pod.getStatus().getContainerStatuses() != null) {
                                            for (var cs : pod.getStatus().getContainerStatuses()) {
                                                if (cs.getState() == null) {
                                                    continue;
                                                }
                                                if (t.running == 0
                                                        && cs.getState().getRunning() != null) {
                                                    t.running = now;
                                                }
                                                if (t.terminated == 0
                                                        && cs.getState().getTerminated() != null) {
                                                    t.terminated = now;
                                                    t.terminationMessage =
                                                            cs.getState()
                                                                    .getTerminated()
                                                                    .getMessage();
                                                }
                                            }
                                        }
                                        if (action == Action.DELETED && t.gone == 0) {
                                            t.gone = now;
                                        }
                                    }

                                    @Override
                                    public void onClose(WatcherException cause) {
                                        if (cause != null) {
                                            BenchEnv.log(
                                                    "pod recorder watch closed: %s",
                                                    cause.getMessage());
                                        }
                                    }
                                });
    }

    public List<Trace> of(String job, int attempt) {
        List<Trace> l = new ArrayList<>();
        for (Trace t : byUid.values()) {
            if (job.equals(t.job) && t.attempt == attempt) {
                l.add(t);
            }
        }
        return l;
    }

    public List<Trace> all() {
        return new ArrayList<>(byUid.values());
    }

    @Override
    public void close() {
        watch.close();
    }
}
