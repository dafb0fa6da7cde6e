package dev.phoenix.operator.observe;

import dev.phoenix.operator.Names;
import io.fabric8.kubernetes.api.model.Pod;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;
import java.util.stream.Collectors;

/**
 * What this operator process did to pods that its pod informer has not shown yet. Creates: pods it
 * created that the informer has not delivered, as the Kubernetes Job controller keeps {@code
 * ControllerExpectations}: the reconcile that follows a gang create (its pods' events come within
 * milliseconds) must not take the ranks the cache does not show yet for missing and create them
 * again (a 64-pod recovery sent 31 creates that answered 409, each followed by a GET, while the
 * scheduler bound the new gang). A created pod counts until the cache holds that UID once, a pod of
 * the same name with another UID, or {@link #PATIENCE} passed (a watch that relisted after the pod
 * was gone again never delivers it; the Job controller waits 5 minutes). Deletes: pods it sent a
 * delete for count as deleting before the cache shows their deletion timestamp (the reconciles
 * after a 64-pod gang delete sent 37 deletes again).
 */
public final class PodExpectations {
    /** How long a created pod the cache never shows still counts. */
    static final Duration PATIENCE = Duration.ofSeconds(30);

    private record Expected(Pod pod, Instant at) {}

    /** By job ({@code namespace/name}), then pod name. */
    private final Map<String, Map<String, Expected>> byJob = new ConcurrentHashMap<>();

    /**
     * Deletes sent, by {@code namespace/pod name/attempt}: a pod of that name and attempt is being
     * deleted, whatever a lagging cache says (a new attempt's pod of the same name is another key).
     */
    private final Map<String, Instant> deletesSent = new ConcurrentHashMap<>();

    /** When the delete expectations were last swept of expired entries. */
    private volatile Instant swept = Instant.EPOCH;

    private final Clock clock;

    public PodExpectations(Clock clock) {
        this.clock = clock;
    }

    private static String key(String namespace, String name) {
        return namespace + "/" + name;
    }

    /** Records a delete the API server accepted (200) or answered 404 to. */
    public void deleteSent(String namespace, String pod, int attempt) {
        Instant now = clock.instant();
        // A 1,000-pod gang delete records 1,000 entries: sweep the expired ones once a second, not
        // on every call (that was a scan of the whole map per pod).
        if (now.isAfter(swept.plusSeconds(1))) {
            swept = now;
            deletesSent.values().removeIf(at -> now.isAfter(at.plus(PATIENCE)));
        }
        deletesSent.put(key(namespace, pod) + "/" + attempt, now);
    }

    /** True when this process sent a delete for this pod (its name and attempt label). */
    public boolean deleteSent(Pod pod) {
        var labels = pod.getMetadata().getLabels();
        String attempt = labels == null ? null : labels.get(Names.LABEL_ATTEMPT);
        return attempt != null
                && deletesSent.containsKey(
                        key(pod.getMetadata().getNamespace(), pod.getMetadata().getName())
                                + "/"
                                + attempt);
    }

    /** Records the pod the API server returned for a create (it carries the UID). */
    public void created(String namespace, String job, Pod pod) {
        if (pod == null || pod.getMetadata() == null || pod.getMetadata().getUid() == null) {
            return;
        }
        byJob.computeIfAbsent(key(namespace, job), k -> new ConcurrentHashMap<>())
                .put(pod.getMetadata().getName(), new Expected(pod, clock.instant()));
    }

    /**
     * The pod informer delivered {@code pod} (its add handler): that expectation is met, even if
     * the pod is gone again before the next reconcile looks.
     */
    public void delivered(Pod pod) {
        String job =
                pod.getMetadata().getLabels() == null
                        ? null
                        : pod.getMetadata().getLabels().get(Names.LABEL_JOB);
        Map<String, Expected> expected =
                job == null ? null : byJob.get(key(pod.getMetadata().getNamespace(), job));
        if (expected == null) {
            return;
        }
        Expected e = expected.get(pod.getMetadata().getName());
        if (e != null
                && Objects.equals(e.pod().getMetadata().getUid(), pod.getMetadata().getUid())) {
            expected.remove(pod.getMetadata().getName(), e);
        }
    }

    /**
     * The job's pods as the cache lists them, plus the pods created here that it does not show yet.
     * Expectations the cache has met (or that timed out) are dropped.
     *
     * @param cache reads the job's pods from the informer cache; called once, after the
     *     expectations were taken
     */
    public List<Pod> withCreated(String namespace, String job, Supplier<List<Pod>> cache) {
        Map<String, Expected> expected = byJob.get(key(namespace, job));
        if (expected == null) {
            return cache.get();
        }
        // The expectations first, then the cache: the informer updates its store before it calls
        // delivered(), so a pod delivered in between is in the list read next. The other way
        // round a pod delivered between the two reads was in neither, and the decision took its
        // rank for missing: a 1,000-pod gang's start re-created 1 to 7 pods that way (409 each,
        // then a GET).
        Map<String, Expected> taken = Map.copyOf(expected);
        List<Pod> cached = cache.get();
        if (taken.isEmpty()) {
            byJob.remove(key(namespace, job), expected);
            return cached;
        }
        // Any cached pod of the name ends the wait: its own UID (delivered) or another (the cache
        // is past it; a create of an existing name would have answered 409).
        Set<String> cachedNames =
                cached.stream().map(p -> p.getMetadata().getName()).collect(Collectors.toSet());
        Instant now = clock.instant();
        List<Pod> out = new ArrayList<>(cached);
        for (var e : taken.entrySet()) {
            if (cachedNames.contains(e.getKey()) || now.isAfter(e.getValue().at().plus(PATIENCE))) {
                // Delivered (this UID), replaced (another UID: the cache is past it), or given up.
                expected.remove(e.getKey(), e.getValue());
            } else {
                out.add(e.getValue().pod());
            }
        }
        if (expected.isEmpty()) {
            byJob.remove(key(namespace, job), expected);
        }
        return out;
    }

    /** Jobs with pods still expected (for tests and the log). */
    Set<String> pendingJobs() {
        return Set.copyOf(byJob.keySet());
    }
}
