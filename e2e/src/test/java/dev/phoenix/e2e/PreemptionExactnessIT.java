package dev.phoenix.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import dev.phoenix.api.v1alpha1.TrainingJobStatus;
import dev.phoenix.local.realnode.RealNode;
import io.fabric8.kubernetes.api.model.Pod;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The whole promise, in real containers: a 2-worker job preempted three times at random moments
 * (two of scheduler preemption, the Eviction API and a NoExecute taint, each made by that
 * component, and one hard node loss: the node's processes SIGKILLed, its Node deleted, after which
 * a new node joins) ends with a state bit-identical to an uninterrupted run of the same job, with 3
 * preemptions and no failure counted.
 */
class PreemptionExactnessIT {

    @Test
    void threePreemptionsIncludingNodeLossEndBitIdenticalToAnUninterruptedRun() throws Exception {
        PhoenixStack s = E2e.stack();
        PodAuditor auditor = E2e.auditor();
        JobConfig cfg = JobConfig.small(2, 300).withStepSleepMs(50).withSeed(7);
        CompletableFuture<String> reference =
                ReferenceRuns.stateDigest(cfg, s.workDir().resolve("references"));
        String ns = s.controlPlane().createNamespace("preempt3");
        String name = "exact";
        Random rnd = E2e.random("PreemptionExactnessIT");

        List<String> reasons = new ArrayList<>(PhoenixStack.REASONS);
        Collections.shuffle(reasons, rnd);
        List<String> plan = new ArrayList<>(List.of(reasons.get(0), reasons.get(1), "NodeLoss"));
        Collections.shuffle(plan, rnd);
        System.out.println("disruption plan: " + plan);

        E2e.create(s, ns, name, cfg);
        List<String> done = new ArrayList<>();
        for (int i = 0; i < plan.size(); i++) {
            int attempt = i + 1;
            Pod victim = E2e.victimMidAttempt(s, ns, name, cfg, attempt, rnd);
            long at = E2e.step(TrainingJobs.status(s.admin(), ns, name));
            String what = plan.get(i);
            if (what.equals("NodeLoss")) {
                RealNode node = s.nodeOf(victim);
                assertThat(node).isNotNull();
                RealNode fresh = s.loseNode(node);
                done.add(
                        "NodeLoss of "
                                + node.name()
                                + " at step "
                                + at
                                + " (new node "
                                + fresh.name()
                                + ")");
            } else {
                s.disrupt(victim, what);
                done.add(what + " of " + victim.getMetadata().getName() + " at step " + at);
            }
            System.out.println("disruption " + attempt + ": " + done.get(i));
        }

        TrainingJobStatus end =
                E2e.await(s, ns, name, Duration.ofMinutes(5), "Succeeded", E2e::succeeded);
        String expected = reference.get(10, TimeUnit.MINUTES);
        String actual = TrainingJobs.finalStateDigest(s.admin(), ns, name);
        System.out.printf(
                "%s: %s; attempts %d, preemptions %d, failures %d; final stateDigest %s, uninterrupted %s%n",
                name,
                done,
                end.getAttempt(),
                end.getPreemptions(),
                end.getFailures(),
                actual,
                expected);

        assertThat(end.getPreemptions()).as("preemptions").isEqualTo(3);
        assertThat(end.getFailures()).as("failures").isEqualTo(0);
        assertThat(end.getAttempt()).as("attempts").isEqualTo(4);
        assertThat(actual)
                .as("final stateDigest (rank 0's termination message) vs the uninterrupted run")
                .isEqualTo(expected);
        assertThat(end.getLatestCheckpoint().getStateDigest())
                .as("status.latestCheckpoint.stateDigest")
                .isEqualTo(expected);
        assertThat(end.getLatestCheckpoint().getStep()).isEqualTo((long) cfg.steps());
        assertThat(auditor.violations()).as("two attempts' pods at once").isEmpty();
    }
}
