package dev.phoenix.operator.act;

import dev.phoenix.api.v1alpha1.TrainingJob;
import dev.phoenix.operator.Names;
import dev.phoenix.operator.decide.Action;
import dev.phoenix.operator.observe.PodExpectations;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The act step: carries out a decision's actions. Every action is idempotent, so a retry is
 * harmless.
 */
public final class Actuator {
    private static final Logger LOG = LoggerFactory.getLogger(Actuator.class);

    /**
     * Pod creates and deletes of one gang in flight at once (the Job controller's burst is 500 per
     * sync; the client's own limits apply on top).
     */
    static final int PARALLEL_CALLS = 32;

    private final KubernetesClient client;
    private final LiveGang liveGang;
    private final PodExpectations expectations;

    /** Actions {@link #alongside} already carried out (by identity). */
    private final Set<Action> done = java.util.Collections.newSetFromMap(new IdentityHashMap<>());

    /**
     * @param liveGang the job's pods as listed live before this reconcile decided, or null: then
     *     the actuator lists them itself when a whole gang is about to start
     * @param expectations where each pod it creates is recorded until the informer delivers it
     */
    public Actuator(KubernetesClient client, LiveGang liveGang, PodExpectations expectations) {
        this.client = client;
        this.liveGang = liveGang;
        this.expectations = expectations;
    }

    /**
     * Runs {@code statusWrite} with the decision's {@link Action.DeleteWorkers#withStatus} deletes
     * in flight beside it, and waits for both; {@link #execute} then skips those deletes. A
     * recovery after a preemption saves the round trip of the write before the gang goes. The
     * write's error comes first, then the deletes'.
     */
    public <T> T alongside(TrainingJob job, List<Action> actions, Supplier<T> statusWrite) {
        List<Action.DeleteWorkers> early =
                actions.stream()
                        .filter(a -> a instanceof Action.DeleteWorkers d && d.withStatus())
                        .map(a -> (Action.DeleteWorkers) a)
                        .toList();
        if (early.isEmpty()) {
            return statusWrite.get();
        }
        CompletableFuture<Void> deletes =
                CompletableFuture.runAsync(
                        () -> early.forEach(d -> deleteWorkers(job, d)), Parallel.CALLS);
        T written;
        try {
            written = statusWrite.get();
        } finally {
            // Never leave the deletes running into a retry of this reconcile (the write's error,
            // if any, is the one that propagates).
            deletes.exceptionally(e -> null).join();
        }
        // The write went through; if a delete failed, its error propagates and the retry finds
        // the pods that were not deleted and deletes them (Decider.deleteAll skips only pods
        // already deleting).
        Parallel.join(deletes);
        done.addAll(early);
        return written;
    }

    /**
     * @return false when an action could not be completed yet and the reconcile should be repeated
     *     soon
     */
    public boolean execute(TrainingJob job, List<Action> actions) {
        boolean complete = true;
        for (Action a : actions) {
            if (done.contains(a)) {
                continue;
            }
            if (a instanceof Action.CreateWorkers c) {
                complete &= createWorkers(job, c);
            } else if (a instanceof Action.DeleteWorkers d) {
                deleteWorkers(job, d);
            } else if (a instanceof Action.EnsureResources e) {
                LOG.info("{}: recreating {}", Names.describe(job), e.missing());
                JobResources.ensure(client, job);
            } else if (a instanceof Action.ClearReportKeys c) {
                clearReportKeys(job, c);
            } else if (a instanceof Action.DeleteJob) {
                LOG.info("ttlSecondsAfterFinished passed; deleting {}", Names.describe(job));
                client.resource(job).delete();
            }
        }
        return complete;
    }

    /**
     * One JSON patch that first tests the resourceVersion the keys were judged at: a trainer's
     * write in between makes it fail (422), and the next look judges the new values.
     */
    private void clearReportKeys(TrainingJob job, Action.ClearReportKeys c) {
        StringBuilder ops =
                new StringBuilder("[{\"op\":\"test\",\"path\":\"/metadata/resourceVersion\",")
                        .append("\"value\":\"")
                        .append(c.resourceVersion())
                        .append("\"}");
        for (String key : c.keys()) {
            ops.append(",{\"op\":\"remove\",\"path\":\"/data/").append(key).append("\"}");
        }
        ops.append(']');
        String name = Names.reportConfigMap(job.getMetadata().getName());
        try {
            client.configMaps()
                    .inNamespace(job.getMetadata().getNamespace())
                    .withName(name)
                    .patch(PatchContext.of(PatchType.JSON), ops.toString());
            LOG.info("{}: removed rejected report keys {}", Names.describe(job), c.keys());
        } catch (KubernetesClientException e) {
            if (e.getCode() < 400 || e.getCode() >= 500) {
                throw e;
            }
            LOG.info(
                    "{}: report ConfigMap {} changed since it was judged ({}); the next look decides",
                    Names.describe(job),
                    name,
                    e.getCode());
        }
    }

    private boolean createWorkers(TrainingJob job, Action.CreateWorkers c) {
        String ns = job.getMetadata().getNamespace();
        if (c.createResources()) {
            JobResources.ensure(client, job);
        }
        if (c.wholeGang()) {
            // The cache said no pod is left; the API server must agree before a new gang starts, so
            // two attempts of one job can never run at once. Listed before the decision's status
            // write at the latest: only this operator creates a job's pods, so none can appear in
            // between.
            List<Pod> live = (liveGang != null ? liveGang : LiveGang.read(client, job)).pods();
            boolean older =
                    live.stream()
                            .anyMatch(
                                    p ->
                                            !Objects.equals(
                                                    p.getMetadata()
                                                            .getLabels()
                                                            .get(Names.LABEL_ATTEMPT),
                                                    Integer.toString(c.attempt())));
            if (older) {
                LOG.info(
                        "{}: pods of an earlier attempt still exist; attempt {} waits",
                        Names.describe(job),
                        c.attempt());
                return false;
            }
        }
        // Slow start, as the Job controller creates pods, but from one full wave: the live list
        // above has just shown the way clear, so the first batch is PARALLEL_CALLS pods (a gang
        // of up to 32 goes out at once, as a bare client would send it), then 64, 128 …, and no
        // next batch after a batch that met an older attempt's pod or an error: a gang the API
        // server refuses (quota, admission) costs at most 32 requests, not a thousand. Starting
        // at 1 cost a 64-pod recovery 3 extra round trips (docs/benchmarks.md).
        List<Integer> ranks = c.ranks();
        for (int from = 0, batch = PARALLEL_CALLS; from < ranks.size(); from += batch, batch *= 2) {
            List<Integer> part = ranks.subList(from, Math.min(ranks.size(), from + batch));
            List<Boolean> created =
                    Parallel.map(part, rank -> createWorker(job, c, rank), PARALLEL_CALLS);
            if (created.contains(false)) {
                return false;
            }
        }
        LOG.info(
                "{}: attempt {} created ranks {} resuming from step {} on timeline {}",
                Names.describe(job),
                c.attempt(),
                c.ranks(),
                c.resumeStep(),
                c.timeline());
        return true;
    }

    /** False when a pod of this rank from an older attempt is still there: the attempt waits. */
    private boolean createWorker(TrainingJob job, Action.CreateWorkers c, int rank) {
        String ns = job.getMetadata().getNamespace();
        Pod pod =
                WorkerPodFactory.build(
                        job, rank, c.attempt(), c.resumeStep(), c.exactStep(), c.timeline());
        try {
            expectations.created(
                    ns,
                    job.getMetadata().getName(),
                    client.pods().inNamespace(ns).resource(pod).create());
            return true;
        } catch (KubernetesClientException e) {
            if (e.getCode() != 409) {
                throw e;
            }
            // Deterministic names: a pod of this rank exists already. Ours from a retried
            // reconcile is fine; an older attempt's means we must wait for it to go.
            Pod existing =
                    client.pods().inNamespace(ns).withName(pod.getMetadata().getName()).get();
            return existing == null
                    || Integer.toString(c.attempt())
                            .equals(existing.getMetadata().getLabels().get(Names.LABEL_ATTEMPT));
        }
    }

    private void deleteWorkers(TrainingJob job, Action.DeleteWorkers d) {
        String ns = job.getMetadata().getNamespace();
        Parallel.map(
                d.targets(),
                t -> {
                    var pod = client.pods().inNamespace(ns).withName(t.name());
                    // A pod whose node is gone will never be confirmed dead by a kubelet; PodGC
                    // would force it too.
                    (t.force() ? pod.withGracePeriod(0) : pod).delete();
                    // Also when it was gone already (an empty answer): either way it is deleting.
                    expectations.deleteSent(ns, t.name(), t.attempt());
                    return true;
                },
                PARALLEL_CALLS);
        LOG.info("{}: deleting workers {}", Names.describe(job), d.targets());
    }
}
