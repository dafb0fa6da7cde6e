package dev.phoenix.e2e;

import dev.phoenix.local.disruption.ClusterDisruptions;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.time.Duration;

/**
 * {@code hack/preempt.sh}: makes the cluster's own components preempt one pod of the local cluster,
 * as {@link ClusterDisruptions#disrupt} does in the e2e tests.
 *
 * <pre>
 * Preempt POD [--reason PreemptionByScheduler|EvictionByEvictionAPI|DeletionByTaintManager] [-n NAMESPACE]
 * </pre>
 */
public final class Preempt {
    private Preempt() {}

    public static void main(String[] args) {
        String pod = null;
        String ns = "default";
        String reason = "PreemptionByScheduler";
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--reason" -> reason = args[++i];
                case "-n", "--namespace" -> ns = args[++i];
                case "-h", "--help" -> {
                    System.out.println(
                            "usage: hack/preempt.sh POD [--reason "
                                    + String.join("|", ClusterDisruptions.REASONS)
                                    + "] [-n NAMESPACE]");
                    return;
                }
                default -> {
                    if (pod != null || args[i].startsWith("-")) {
                        throw new IllegalArgumentException(
                                "unexpected argument " + args[i] + " (try --help)");
                    }
                    pod = args[i];
                }
            }
        }
        if (pod == null) {
            throw new IllegalArgumentException("which pod? (try --help)");
        }
        try (KubernetesClient c =
                new KubernetesClientBuilder().withConfig(Config.autoConfigure(null)).build()) {
            Pod victim = c.pods().inNamespace(ns).withName(pod).get();
            if (victim == null) {
                throw new IllegalArgumentException("no pod " + ns + "/" + pod);
            }
            long t0 = System.nanoTime();
            new ClusterDisruptions(c).disrupt(victim, reason, Duration.ofMinutes(3));
            System.out.printf(
                    "%s/%s gone after %s (%.1f s)%n",
                    ns, pod, reason, (System.nanoTime() - t0) / 1e9);
        }
    }
}
