package dev.phoenix.e2e;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Watches every Phoenix worker pod of the cluster and records a violation whenever a pod of one
 * attempt of a job appears while a pod of another attempt of the same job still exists (Phoenix
 * must never run two attempts of a gang at once: the old one has to be completely gone first).
 */
public final class PodAuditor implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(PodAuditor.class);

    /** job key (ns/job) → pod uid → attempt, for pods that exist right now. */
    private final Map<String, Map<String, Integer>> existing = new HashMap<>();

    private final Map<String, String> names = new HashMap<>();
    private final List<String> violations = new ArrayList<>();
    private final Map<String, Integer> podsCreated = new ConcurrentHashMap<>();
    private final Map<String, Integer> maxAttempt = new ConcurrentHashMap<>();
    private final SharedIndexInformer<Pod> informer;

    public PodAuditor(KubernetesClient client) {
        informer =
                client.pods()
                        .inAnyNamespace()
                        .withLabel("phoenix.dev/job")
                        .inform(
                                new ResourceEventHandler<>() {
                                    @Override
                                    public void onAdd(Pod pod) {
                                        added(pod);
                                    }

                                    @Override
                                    public void onUpdate(Pod oldPod, Pod newPod) {}

                                    @Override
                                    public void onDelete(
                                            Pod pod, boolean deletedFinalStateUnknown) {
                                        deleted(pod);
                                    }
                                },
                                0);
    }

    private static String key(Pod p) {
        return p.getMetadata().getNamespace()
                + "/"
                + p.getMetadata().getLabels().get("phoenix.dev/job");
    }

    private synchronized void added(Pod pod) {
        String job = key(pod);
        String uid = pod.getMetadata().getUid();
        int attempt = TrainingJobs.attemptOf(pod);
        Map<String, Integer> pods = existing.computeIfAbsent(job, k -> new HashMap<>());
        for (var e : pods.entrySet()) {
            if (e.getValue() != attempt) {
                String v =
                        job
                                + ": pod "
                                + pod.getMetadata().getName()
                                + " of attempt "
                                + attempt
                                + " appeared while pod "
                                + names.get(e.getKey())
                                + " of attempt "
                                + e.getValue()
                                + " still existed";
                LOG.error("VIOLATION {}", v);
                violations.add(v);
            }
        }
        pods.put(uid, attempt);
        names.put(uid, pod.getMetadata().getName() + "(" + uid.substring(0, 8) + ")");
        podsCreated.merge(job, 1, Integer::sum);
        maxAttempt.merge(job, attempt, Math::max);
    }

    private synchronized void deleted(Pod pod) {
        Map<String, Integer> pods = existing.get(key(pod));
        if (pods != null) {
            pods.remove(pod.getMetadata().getUid());
        }
    }

    public synchronized List<String> violations() {
        return List.copyOf(violations);
    }

    /** How many worker pods of {@code ns/job} were seen in all. */
    public int podsCreated(String ns, String job) {
        return podsCreated.getOrDefault(ns + "/" + job, 0);
    }

    public int maxAttempt(String ns, String job) {
        return maxAttempt.getOrDefault(ns + "/" + job, 0);
    }

    @Override
    public void close() {
        informer.stop();
    }
}
