package dev.phoenix.bench.peer;

import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.api.model.batch.v1.JobBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;

/**
 * What a user without Phoenix would reach for first: an Indexed Kubernetes Job run by
 * kube-controller-manager's Job controller, with the documented recipe for preemptible workers: a
 * {@code podFailurePolicy} that ignores failures of pods with the {@code DisruptionTarget}
 * condition (not counted against {@code backoffLimit}) and {@code podReplacementPolicy: Failed}
 * (the replacement starts only once the old pod has terminated, so one index never runs twice). It
 * replaces only the disrupted index; the other pods keep running.
 */
final class IndexedJobPeer implements Peer {
    private final KubernetesClient client;
    private final int maxPreemptions;
    private String ns;

    /**
     * @param maxPreemptions the Job controller delays the replacement of a failed pod by its
     *     back-off (10 s, doubling, up to 6 min), ignored failures included: a few preemptions
     *     already take minutes
     */
    IndexedJobPeer(KubernetesClient client, int maxPreemptions) {
        this.client = client;
        this.maxPreemptions = maxPreemptions;
    }

    @Override
    public int preemptions(int requested) {
        return Math.min(requested, maxPreemptions);
    }

    @Override
    public String name() {
        return "Indexed Job + podFailurePolicy (kube-controller-manager)";
    }

    @Override
    public String job() {
        return "indexed";
    }

    @Override
    public void start(String ns, int replicas) {
        this.ns = ns;
        create(ns, job(), replicas);
    }

    @Override
    public void startMany(String ns, int n) throws Exception {
        Peer.createAll(n, i -> create(ns, job() + "-" + i, 1));
    }

    private void create(String ns, String name, int replicas) {
        Job job =
                new JobBuilder()
                        .withNewMetadata()
                        .withName(name)
                        .withNamespace(ns)
                        .endMetadata()
                        .withSpec(
                                SimulatedPods.indexedJob(
                                                job(), replicas, Integer.MAX_VALUE, "Ignore")
                                        .withPodReplacementPolicy("Failed")
                                        .build())
                        .build();
        client.resource(job).create();
    }

    @Override
    public boolean restartsWholeGang() {
        return false;
    }

    @Override
    public void close() {
        if (ns != null) {
            client.batch()
                    .v1()
                    .jobs()
                    .inNamespace(ns)
                    .withName(job())
                    .withPropagationPolicy(
                            io.fabric8.kubernetes.api.model.DeletionPropagation.BACKGROUND)
                    .delete();
        }
    }

    @Override
    public String note() {
        Job j = client.batch().v1().jobs().inNamespace(ns).withName(job()).get();
        if (j == null || j.getStatus() == null) {
            return "";
        }
        return "The Job counted "
                + (j.getStatus().getFailed() == null ? 0 : j.getStatus().getFailed())
                + " failed pods (ignored preemptions are not counted against backoffLimit), but the"
                + " Job controller's pod-failure back-off (10 s, doubling, capped at 6 min) still"
                + " delays each replacement, so it got at most "
                + maxPreemptions
                + " preemptions per gang size.";
    }
}
