package dev.phoenix.bench.peer;

import dev.phoenix.api.v1alpha1.TrainingJob;
import dev.phoenix.e2e.JobConfig;
import dev.phoenix.e2e.TrainingJobs;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.nio.file.Path;
import java.util.Map;

/**
 * Phoenix: a TrainingJob of {@code replicas} workers, run by the real operator in this JVM (its own
 * client), which restarts the whole gang after a preemption without counting it as a failure.
 */
final class PhoenixPeer implements Peer {
    /** The user agent of the operator's client in this benchmark (audit log). */
    static final String USER_AGENT = "phoenix-operator";

    private final KubernetesClient client;
    private String ns;

    PhoenixPeer(KubernetesClient client) {
        this.client = client;
    }

    @Override
    public String name() {
        return "Phoenix (TrainingJob)";
    }

    @Override
    public String job() {
        return "phoenix";
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
        JobConfig cfg = new JobConfig(replicas, 1_000_000, 32, 32, 42, 0, 10, 3, 3, 1_000_000, 5);
        // A location of its own per job: Phoenix rejects two live jobs on one checkpoint location
        // (InvalidSpec), as the first run of --jobs did for 999 of its 1,000 jobs. The pods are
        // simulated: nothing is written there.
        Path checkpoints = Path.of(SimulatedPods.CHECKPOINT_ROOT, ns, name);
        TrainingJob job = TrainingJobs.job(ns, name, cfg, checkpoints);
        // The same pod as every other peer's (not the e2e trainer's, with its image, arguments,
        // JVM options, scratch volumes and security context: 2.6 KB of pod where the others
        // have 0.6): only what Phoenix adds to each pod (its contract variables, labels, owner,
        // hostname) differs.
        job.getSpec().setTemplate(SimulatedPods.template(name, Map.of(), checkpoints.toString()));
        job.getSpec().getCheckpoint().setPath(SimulatedPods.CHECKPOINT_MOUNT);
        client.resource(job).create();
    }

    @Override
    public boolean restartsWholeGang() {
        return true;
    }

    @Override
    public boolean ready() {
        return "Running".equals(TrainingJobs.phase(TrainingJobs.status(client, ns, job())));
    }

    @Override
    public void close() {
        if (ns != null) {
            client.resources(dev.phoenix.api.v1alpha1.TrainingJob.class)
                    .inNamespace(ns)
                    .withName(job())
                    .delete();
        }
    }

    @Override
    public String note() {
        var s = TrainingJobs.status(client, ns, job());
        return "Phoenix counted "
                + s.preemptionsOrZero()
                + " preemptions and "
                + s.failuresOrZero()
                + " failures.";
    }
}
