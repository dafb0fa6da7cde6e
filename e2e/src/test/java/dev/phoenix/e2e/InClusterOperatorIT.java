package dev.phoenix.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import dev.phoenix.api.v1alpha1.TrainingJobStatus;
import dev.phoenix.local.realnode.RealNode;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The operator as users install it: {@code kubectl apply -k deploy/} (namespace, CRD,
 * ServiceAccount, RBAC, a Deployment of two replicas of the operator image with leader election),
 * running in containers on the real nodes and talking to the API server through the {@code
 * kubernetes} Service. During a recovery (a worker evicted through the Eviction API) the leader's
 * pod is deleted at once (grace period 0, as a lost node's pods are): the standby takes the Lease
 * over and finishes the recovery; the job ends bit-identical to an uninterrupted run with exactly
 * one preemption and no failure.
 *
 * <p>The shared stack's host operator process steps aside for the test and comes back after it.
 */
class InClusterOperatorIT {
    private static final String NS = "phoenix-system";
    private static final String DEPLOYMENT = "phoenix-operator";
    private static final String LEASE = "phoenix-operator-lock";

    @Test
    void deployedOperatorWithTwoReplicasFinishesARecoveryAfterItsLeaderDies() throws Exception {
        PhoenixStack s = E2e.stack();
        Path image = Repo.root().resolve("operator/target/jib-image.tar");
        assertThat(image).as("the operator image (mvn -Pimages)").isRegularFile();
        JobConfig cfg = JobConfig.small(2, 300).withStepSleepMs(50).withSeed(31);
        CompletableFuture<String> reference =
                ReferenceRuns.stateDigest(cfg, s.workDir().resolve("references"));
        s.operator().kill();
        try {
            for (RealNode n : s.nodes()) {
                n.importImage(image);
            }
            System.out.print(s.kubectl("apply", "-k", Repo.root().resolve("deploy").toString()));
            E2e.until(
                    Duration.ofMinutes(4),
                    "both operator replicas available",
                    () -> {
                        Deployment d =
                                s.admin()
                                        .apps()
                                        .deployments()
                                        .inNamespace(NS)
                                        .withName(DEPLOYMENT)
                                        .get();
                        return d != null
                                && d.getStatus() != null
                                && Integer.valueOf(2).equals(d.getStatus().getAvailableReplicas());
                    });
            String firstLeader = awaitLeaderPod(s);
            System.out.println("leader: " + firstLeader);

            String ns = s.controlPlane().createNamespace("incluster");
            String name = "ha";
            E2e.create(s, ns, name, cfg);
            E2e.await(
                    s,
                    ns,
                    name,
                    Duration.ofMinutes(3),
                    "training in attempt 1",
                    x ->
                            E2e.attempt(x) == 1
                                    && E2e.training(s, ns, name, x, cfg.replicas())
                                    && E2e.checkpoint(x) >= 20);
            List<Pod> gang = TrainingJobs.runningPods(s.admin(), ns, name, 1);
            Pod victim = gang.get(0);
            assertThat(s.disruptions().evict(victim))
                    .as("eviction of " + victim.getMetadata().getName())
                    .isTrue();
            s.admin().pods().inNamespace(NS).withName(firstLeader).withGracePeriod(0).delete();
            System.out.println(
                    "evicted "
                            + victim.getMetadata().getName()
                            + ", deleted the leader's pod "
                            + firstLeader);

            TrainingJobStatus resumed =
                    E2e.await(
                            s,
                            ns,
                            name,
                            Duration.ofMinutes(4),
                            "training in attempt 2",
                            x ->
                                    E2e.attempt(x) == 2
                                            && E2e.training(s, ns, name, x, cfg.replicas()));
            String secondLeader = awaitLeaderPod(s);
            System.out.println(
                    "attempt 2 resumed from step "
                            + resumed.getResumedFromStep()
                            + " under leader "
                            + secondLeader);
            assertThat(secondLeader).as("the standby took over").isNotEqualTo(firstLeader);

            TrainingJobStatus end =
                    E2e.await(s, ns, name, Duration.ofMinutes(5), "Succeeded", E2e::succeeded);
            assertThat(end.getPreemptions()).as("preemptions").isEqualTo(1);
            assertThat(end.getFailures()).as("failures").isZero();
            assertThat(end.getAttempt()).isEqualTo(2);
            assertThat(TrainingJobs.finalStateDigest(s.admin(), ns, name))
                    .as("final stateDigest vs uninterrupted")
                    .isEqualTo(reference.get(10, TimeUnit.MINUTES));
            assertThat(E2e.auditor().violations()).as("two attempts' pods at once").isEmpty();
        } finally {
            s.admin().apps().deployments().inNamespace(NS).withName(DEPLOYMENT).delete();
            E2e.until(
                    Duration.ofMinutes(2),
                    "operator pods gone",
                    () ->
                            s.admin()
                                    .pods()
                                    .inNamespace(NS)
                                    .withLabel("app.kubernetes.io/name", DEPLOYMENT)
                                    .list()
                                    .getItems()
                                    .isEmpty());
            s.admin().resources(Lease.class).inNamespace(NS).withName(LEASE).delete();
            s.operator().start();
        }
    }

    /** The pod whose operator holds the Lease (identity = pod name + "-" + 8 random characters). */
    private static String awaitLeaderPod(PhoenixStack s) {
        String[] leader = new String[1];
        E2e.until(
                Duration.ofMinutes(2),
                "a live operator pod holding the Lease",
                () -> {
                    Lease l =
                            s.admin().resources(Lease.class).inNamespace(NS).withName(LEASE).get();
                    if (l == null
                            || l.getSpec() == null
                            || l.getSpec().getHolderIdentity() == null) {
                        return false;
                    }
                    String holder = l.getSpec().getHolderIdentity();
                    for (Pod p :
                            s.admin()
                                    .pods()
                                    .inNamespace(NS)
                                    .withLabel("app.kubernetes.io/name", DEPLOYMENT)
                                    .list()
                                    .getItems()) {
                        if (p.getMetadata().getDeletionTimestamp() == null
                                && holder.startsWith(p.getMetadata().getName() + "-")) {
                            leader[0] = p.getMetadata().getName();
                            return true;
                        }
                    }
                    return false;
                });
        return leader[0];
    }
}
