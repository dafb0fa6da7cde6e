package dev.phoenix.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import dev.phoenix.api.v1alpha1.TrainingJobStatus;
import dev.phoenix.local.disruption.PodWatchLog;
import dev.phoenix.local.realnode.RealNode;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodCondition;
import io.fabric8.kubernetes.api.model.Taint;
import io.fabric8.kubernetes.api.model.TaintBuilder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A node that stops heart-beating (its machine gone: kubelet, containerd and containers SIGKILLed;
 * the Node object stays): kube-controller-manager's node-lifecycle controller marks it unreachable
 * and taints it {@code node.kubernetes.io/unreachable:NoExecute}, and the taint-eviction controller
 * deletes its pods once their toleration (5 s here) runs out, writing {@code
 * DisruptionTarget=DeletionByTaintManager}. The pods then stay Terminating: no kubelet confirms
 * they stopped, and Phoenix does not start a new attempt while one of the old one might still run
 * (a partitioned node's trainer could still write checkpoints). An operator confirms the machine is
 * down with the {@code node.kubernetes.io/out-of-service} taint (non-graceful node shutdown); PodGC
 * then deletes the pods and Phoenix resumes the gang on the healthy node, with the preemption
 * counted once and the final state exact.
 *
 * <p>The cluster keeps a second, healthy node: with every node of a zone unhealthy the
 * node-lifecycle controller enters full-disruption mode and evicts nothing (it assumes its own
 * network failed), which is why this cannot be shown with KWOK's single simulated node.
 */
class NodeHeartbeatLossIT {

    @Test
    void podsOfANodeThatStopsHeartbeatingAreEvictedByTheTaintManagerAndTheGangResumesElsewhere()
            throws Exception {
        PhoenixStack s = E2e.stack();
        JobConfig cfg = JobConfig.small(2, 300).withStepSleepMs(50).withSeed(41);
        CompletableFuture<String> reference =
                ReferenceRuns.stateDigest(cfg, s.workDir().resolve("references"));
        String ns = s.controlPlane().createNamespace("heartbeat");
        String name = "silent";
        try (PodWatchLog log = new PodWatchLog(s.admin(), ns)) {
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
            Pod victim = TrainingJobs.runningPods(s.admin(), ns, name, 1).get(0);
            RealNode node = s.nodeOf(victim);
            assertThat(node).isNotNull();
            List<Pod> onNode =
                    TrainingJobs.runningPods(s.admin(), ns, name, 1).stream()
                            .filter(p -> node.name().equals(p.getSpec().getNodeName()))
                            .toList();
            long t0 = System.nanoTime();
            node.kill();
            System.out.println(
                    "killed node "
                            + node.name()
                            + " (pods there: "
                            + onNode.stream().map(p -> p.getMetadata().getName()).toList()
                            + ")");

            String uid = victim.getMetadata().getUid();
            E2e.until(
                    Duration.ofMinutes(3),
                    "DisruptionTarget on " + victim.getMetadata().getName(),
                    () -> log.disruptionTarget(uid).isPresent());
            PodCondition c = log.disruptionTarget(uid).orElseThrow();
            System.out.printf(
                    "DisruptionTarget %s (\"%s\") by %s, %.0f s after the node died%n",
                    c.getReason(),
                    c.getMessage(),
                    log.disruptionTargetWriter(uid).orElse("?"),
                    (System.nanoTime() - t0) / 1e9);
            assertThat(c.getReason()).isEqualTo("DeletionByTaintManager");
            assertThat(c.getMessage()).isEqualTo("Taint manager: deleting due to NoExecute taint");
            assertThat(log.disruptionTargetWriter(uid))
                    .as("who wrote the condition")
                    .contains("kube-controller-manager");
            assertThat(s.admin().nodes().withName(node.name()).get().getSpec().getTaints())
                    .extracting(Taint::getKey)
                    .contains("node.kubernetes.io/unreachable");

            // No new attempt while a pod of the old one may still run: the dead node's pod is still
            // there (Terminating, no kubelet to confirm it stopped) and the job is still on attempt
            // 1.
            assertThat(
                            s.admin()
                                    .pods()
                                    .inNamespace(ns)
                                    .withName(victim.getMetadata().getName())
                                    .get())
                    .as("the dead node's pod, before the out-of-service taint")
                    .isNotNull()
                    .satisfies(p -> assertThat(p.getMetadata().getUid()).isEqualTo(uid))
                    .satisfies(p -> assertThat(p.getMetadata().getDeletionTimestamp()).isNotNull());
            TrainingJobStatus waiting = TrainingJobs.status(s.admin(), ns, name);
            assertThat(E2e.attempt(waiting))
                    .as("attempt while the dead node's pods are Terminating")
                    .isEqualTo(1);

            s.admin()
                    .nodes()
                    .withName(node.name())
                    .edit(
                            n -> {
                                List<Taint> taints = new ArrayList<>(n.getSpec().getTaints());
                                taints.add(
                                        new TaintBuilder()
                                                .withKey("node.kubernetes.io/out-of-service")
                                                .withValue("nodeshutdown")
                                                .withEffect("NoExecute")
                                                .build());
                                n.getSpec().setTaints(taints);
                                return n;
                            });
            TrainingJobStatus resumed =
                    E2e.await(
                            s,
                            ns,
                            name,
                            Duration.ofMinutes(3),
                            "training in attempt 2",
                            x ->
                                    E2e.attempt(x) == 2
                                            && E2e.training(s, ns, name, x, cfg.replicas()));
            System.out.println("attempt 2 resumed from step " + resumed.getResumedFromStep());
            assertThat(TrainingJobs.runningPods(s.admin(), ns, name, 2))
                    .as("the new gang avoids the dead node")
                    .noneMatch(p -> node.name().equals(p.getSpec().getNodeName()));

            TrainingJobStatus end =
                    E2e.await(s, ns, name, Duration.ofMinutes(5), "Succeeded", E2e::succeeded);
            assertThat(end.getPreemptions()).as("preemptions").isEqualTo(1);
            assertThat(end.getFailures()).as("failures").isZero();
            assertThat(TrainingJobs.finalStateDigest(s.admin(), ns, name))
                    .as("final stateDigest vs uninterrupted")
                    .isEqualTo(reference.get(10, TimeUnit.MINUTES));
            assertThat(E2e.auditor().violations()).as("two attempts' pods at once").isEmpty();
        } finally {
            // the dead machine is replaced, as a cloud would, so later tests find two nodes again
            s.nodes().stream()
                    .filter(n -> !n.isRunning())
                    .forEach(
                            n -> {
                                try {
                                    s.loseNode(n);
                                } catch (java.io.IOException e) {
                                    throw new java.io.UncheckedIOException(e);
                                }
                            });
        }
    }
}
