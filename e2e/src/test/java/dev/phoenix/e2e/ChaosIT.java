package dev.phoenix.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import dev.phoenix.api.v1alpha1.TrainingJobStatus;
import dev.phoenix.local.realnode.RealNode;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Pod;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.assertj.core.api.SoftAssertions;
import org.junit.jupiter.api.Test;

/**
 * Chaos, in real containers on two real nodes: 10 jobs at once (1 and 2 workers, three distinct
 * configurations), at least 32 random disruptions among them aimed at one pod each, so that every
 * job's count is known exactly (the Eviction API, which writes DisruptionTarget
 * EvictionByEvictionAPI: a preemption; a SIGKILLed trainer container, exit 137: a failure), and the
 * operator process killed with SIGKILL in the middle (after 12 disruptions, while at least 3 gangs
 * train) and started again after 3 more disruptions or 20 s, with disruptions while it is down.
 * Every job must succeed with the exact final state of its uninterrupted reference, count exactly
 * the preemptions and failures it suffered, never run two attempts' pods at once, and never resume
 * from a checkpoint older than one it had already recorded. Disruptions that hit a whole node
 * (scheduler preemption, a NoExecute taint, node loss) would hit several jobs in different phases
 * at once, with no exact count to expect: PreemptionExactnessIT covers them, one job at a time.
 */
class ChaosIT {
    static final int JOBS = 10;
    static final int MIN_DISRUPTIONS = 32;
    static final int OPERATOR_KILL_AT = 12;
    static final int MAX_PER_JOB = 6;

    /**
     * The operator stays down for 3 disruptions or this long, whichever comes first: jobs may
     * finish meanwhile.
     */
    static final long OPERATOR_DOWN_MAX_NANOS = TimeUnit.SECONDS.toNanos(20);

    /**
     * Long enough that 32 disruptions fit while every job still trains on 2 loaded cores (there,
     * ten gangs make about 6 steps/s each and a restart costs 30-40 s); on a faster machine both
     * speed up together.
     */
    static final int STEPS = 900;

    record Expected(int preemptions, int failures) {}

    @Test
    void tenJobsThirtyDisruptionsAndAnOperatorRestart() throws Exception {
        PhoenixStack s = E2e.stack();
        PodAuditor auditor = E2e.auditor();
        Random rnd = E2e.random("ChaosIT");
        List<JobConfig> configs =
                List.of(
                        JobConfig.small(1, STEPS)
                                .withStepSleepMs(50)
                                .withSeed(101)
                                .withLimits(20, 50),
                        JobConfig.small(2, STEPS)
                                .withStepSleepMs(50)
                                .withSeed(102)
                                .withLimits(20, 50),
                        JobConfig.small(1, STEPS)
                                .withStepSleepMs(50)
                                .withSeed(103)
                                .withHidden(48)
                                .withLimits(20, 50));
        Map<String, CompletableFuture<String>> references = new HashMap<>();
        for (JobConfig c : configs) {
            references.put(
                    c.stateKey(), ReferenceRuns.stateDigest(c, s.workDir().resolve("references")));
        }
        String ns = s.controlPlane().createNamespace("chaos");
        Map<String, JobConfig> jobs = new LinkedHashMap<>();
        for (int i = 0; i < JOBS; i++) {
            JobConfig c = configs.get(i % configs.size());
            String name = "chaos-" + i;
            jobs.put(name, c);
            E2e.create(s, ns, name, c);
        }

        // Watch status throughout: an attempt must never resume before a checkpoint status already
        // recorded.
        Map<String, Long> maxCheckpointSeen = new ConcurrentHashMap<>();
        List<String> regressions = java.util.Collections.synchronizedList(new ArrayList<>());
        Map<String, Integer> lastAttempt = new ConcurrentHashMap<>();
        Thread watcher =
                new Thread(
                        () -> {
                            while (!Thread.currentThread().isInterrupted()) {
                                for (String name : jobs.keySet()) {
                                    try {
                                        TrainingJobStatus st =
                                                TrainingJobs.status(s.admin(), ns, name);
                                        int a = E2e.attempt(st);
                                        Integer prev = lastAttempt.put(name, a);
                                        long known = maxCheckpointSeen.getOrDefault(name, 0L);
                                        if (prev != null
                                                && a > prev
                                                && E2e.resumedFrom(st) < known) {
                                            regressions.add(
                                                    name
                                                            + ": attempt "
                                                            + a
                                                            + " resumed from "
                                                            + E2e.resumedFrom(st)
                                                            + " although checkpoint "
                                                            + known
                                                            + " was recorded before");
                                        }
                                        maxCheckpointSeen.merge(
                                                name, Math.max(0, E2e.checkpoint(st)), Math::max);
                                    } catch (RuntimeException e) {
                                        // operator down or API hiccup: next round
                                    }
                                }
                                try {
                                    Thread.sleep(300);
                                } catch (InterruptedException e) {
                                    return;
                                }
                            }
                        },
                        "chaos-status-watcher");
        watcher.setDaemon(true);
        watcher.start();

        Map<String, int[]> expected = new HashMap<>(); // name -> {preemptions, failures}
        jobs.keySet().forEach(n -> expected.put(n, new int[2]));
        Set<String> disruptedAttempts = new HashSet<>();
        List<String> log = new ArrayList<>();
        List<String> actions = List.of("EvictionByEvictionAPI", "Kill");
        int total = 0;
        boolean operatorKilled = false;
        boolean operatorRestarted = false;
        long killedAt = 0;
        int whileDown = 0;
        long waitingSince = 0;
        long t0 = System.nanoTime();
        long deadline = t0 + TimeUnit.MINUTES.toNanos(8);
        String stoppedBecause = "time box of 8 minutes over";
        while (total < MIN_DISRUPTIONS && System.nanoTime() < deadline) {
            if (operatorKilled
                    && !operatorRestarted
                    && (total >= OPERATOR_KILL_AT + 3
                            || System.nanoTime() - killedAt > OPERATOR_DOWN_MAX_NANOS)) {
                s.operator().start();
                operatorRestarted = true;
                log.add(
                        String.format(
                                "%5.1fs operator started again (pid %d)",
                                secs(t0), s.operator().pid()));
            }
            List<String> candidates = new ArrayList<>();
            Map<String, TrainingJobStatus> statuses = new HashMap<>();
            int open = 0; // jobs that can still be disrupted now or later
            for (var e : jobs.entrySet()) {
                String name = e.getKey();
                TrainingJobStatus st = TrainingJobs.status(s.admin(), ns, name);
                statuses.put(name, st);
                int[] ex = expected.get(name);
                boolean inWindow =
                        ex[0] + ex[1] < MAX_PER_JOB
                                && E2e.step(st) < e.getValue().steps() - 80
                                && !E2e.succeeded(st)
                                && !"Failed".equals(TrainingJobs.phase(st));
                open += inWindow ? 1 : 0;
                if (inWindow
                        && !disruptedAttempts.contains(name + "#" + E2e.attempt(st))
                        && E2e.training(s, ns, name, st, e.getValue().replicas())) {
                    candidates.add(name);
                }
            }
            if (open == 0 && (!operatorKilled || operatorRestarted)) {
                stoppedBecause =
                        "no job can be disrupted any more (all past their window or at "
                                + MAX_PER_JOB
                                + ")";
                break;
            }
            // Kill the operator only while at least 3 gangs train: their pods keep running, and
            // status
            // (frozen while the operator is down) still shows them training, so the next
            // disruptions hit
            // jobs whose operator is gone. Until then disrupt nothing, so that training gangs
            // accumulate
            // (at most a minute; then whatever trains will do).
            if (!operatorKilled && total >= OPERATOR_KILL_AT) {
                if (waitingSince == 0) {
                    waitingSince = System.nanoTime();
                }
                boolean waitedLong =
                        System.nanoTime() - waitingSince > TimeUnit.SECONDS.toNanos(60);
                if (candidates.size() < 3 && !(waitedLong && !candidates.isEmpty())) {
                    E2e.sleep(200);
                    continue;
                }
                s.operator().kill();
                operatorKilled = true;
                killedAt = System.nanoTime();
                log.add(
                        String.format(
                                "%5.1fs operator kill -9 (%d gangs training)",
                                secs(t0), candidates.size()));
            }
            if (candidates.isEmpty()) {
                E2e.sleep(200);
                continue;
            }
            String name = candidates.get(rnd.nextInt(candidates.size()));
            TrainingJobStatus st = statuses.get(name);
            List<Pod> pods = TrainingJobs.runningPods(s.admin(), ns, name, E2e.attempt(st));
            if (pods.isEmpty()) {
                continue;
            }
            Pod victim = pods.get(rnd.nextInt(pods.size()));
            String pod = victim.getMetadata().getName();
            String action = actions.get(rnd.nextInt(actions.size()));
            try {
                if (action.equals("Kill")) {
                    RealNode node = s.nodeOf(victim);
                    if (node == null) {
                        continue;
                    }
                    node.killContainer(ns, pod, "trainer");
                } else {
                    s.disrupt(victim, action);
                }
            } catch (IllegalStateException gone) {
                continue; // the container ended in between: nothing happened, nothing to count
            }
            expected.get(name)[action.equals("Kill") ? 1 : 0]++;
            disruptedAttempts.add(name + "#" + E2e.attempt(st));
            total++;
            boolean operatorDown = operatorKilled && !operatorRestarted;
            whileDown += operatorDown ? 1 : 0;
            log.add(
                    String.format(
                            "%5.1fs #%d %s %s (attempt %d, step %d)%s",
                            secs(t0),
                            total,
                            action,
                            pod,
                            E2e.attempt(st),
                            E2e.step(st),
                            operatorDown ? " [operator down]" : ""));
            E2e.sleep(300 + rnd.nextInt(1200));
        }
        if (!operatorRestarted) {
            if (!operatorKilled) {
                s.operator().kill();
            }
            s.operator().start();
            operatorRestarted = true;
        }
        log.forEach(System.out::println);
        assertThat(total)
                .as("disruptions done before: " + stoppedBecause)
                .isGreaterThanOrEqualTo(MIN_DISRUPTIONS);
        assertThat(s.operator().starts()).as("operator process starts").isGreaterThanOrEqualTo(2);
        assertThat(whileDown)
                .as("disruptions while the operator was down")
                .isGreaterThanOrEqualTo(1);

        for (String name : jobs.keySet()) {
            E2e.await(s, ns, name, Duration.ofMinutes(6), "Succeeded", E2e::succeeded);
        }
        watcher.interrupt();
        System.out.printf(
                "all %d jobs Succeeded %.0f s after the first disruption%n", JOBS, secs(t0));

        SoftAssertions soft = new SoftAssertions();
        for (var e : jobs.entrySet()) {
            String name = e.getKey();
            JobConfig c = e.getValue();
            TrainingJobStatus st = TrainingJobs.status(s.admin(), ns, name);
            int[] ex = expected.get(name);
            String ref = references.get(c.stateKey()).get(10, TimeUnit.MINUTES);
            String digest = TrainingJobs.finalStateDigest(s.admin(), ns, name);
            System.out.printf(
                    "%s ws=%d: attempts %d, preemptions %d (expected %d), failures %d (expected %d), digest %s %s%n",
                    name,
                    c.replicas(),
                    st.getAttempt(),
                    st.getPreemptions(),
                    ex[0],
                    st.getFailures(),
                    ex[1],
                    digest,
                    ref.equals(digest) ? "== reference" : "!= reference " + ref);
            soft.assertThat(digest)
                    .as(name + " final stateDigest vs uninterrupted reference")
                    .isEqualTo(ref);
            soft.assertThat(st.getLatestCheckpoint().getStateDigest())
                    .as(name + " status.latestCheckpoint.stateDigest")
                    .isEqualTo(ref);
            soft.assertThat(st.getLatestCheckpoint().getStep())
                    .as(name + " last checkpoint step")
                    .isEqualTo((long) c.steps());
            soft.assertThat(st.getPreemptions()).as(name + " preemptions").isEqualTo(ex[0]);
            soft.assertThat(st.getFailures()).as(name + " failures").isEqualTo(ex[1]);
            soft.assertThat(st.getAttempt()).as(name + " attempts").isEqualTo(1 + ex[0] + ex[1]);
            soft.assertThat(st.getCheckpoints())
                    .as(name + " no checkpoint turned out invalid")
                    .allMatch(x -> x.usable());
            ConfigMap report =
                    s.admin().configMaps().inNamespace(ns).withName(name + "-report").get();
            soft.assertThat(report).as(name + " report ConfigMap").isNotNull();
            if (report != null) {
                soft.assertThat(
                                TrainingJobs.json(report.getData().get("checkpoint"))
                                        .path("stateDigest")
                                        .asText())
                        .as(name + " last report")
                        .isEqualTo(ref);
            }
            soft.assertThat(TrainingJobs.pods(s.admin(), ns, name))
                    .as(name + " pods left: only the final attempt's")
                    .allMatch(p -> TrainingJobs.attemptOf(p) == st.getAttempt());
        }
        soft.assertThat(auditor.violations()).as("two attempts' pods at once").isEmpty();
        soft.assertThat(regressions).as("resumes from older checkpoints than recorded").isEmpty();
        soft.assertAll();
    }

    private static double secs(long t0) {
        return (System.nanoTime() - t0) / 1e9;
    }
}
