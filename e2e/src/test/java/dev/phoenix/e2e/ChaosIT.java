package dev.phoenix.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.phoenix.api.v1alpha1.CheckpointRecord;
import dev.phoenix.api.v1alpha1.TrainingJobStatus;
import dev.phoenix.local.realnode.RealNode;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.assertj.core.api.SoftAssertions;
import org.junit.jupiter.api.Test;

/**
 * Chaos and fault injection, in real containers on two real nodes: {@link #JOBS} jobs at once (1
 * and 2 workers, three configurations) and a plan drawn up front for each job of what happens to
 * it, each fault fired when the job's own progress reaches the step the plan gives it (never by the
 * clock, so a slow or a fast machine meets the same plan):
 *
 * <ul>
 *   <li>{@link #DISRUPTIONS} disruptions (20 for 6 jobs), one per attempt so that every job's count
 *       is known exactly: the Eviction API (DisruptionTarget EvictionByEvictionAPI: a preemption)
 *       or the trainer container SIGKILLed on its node (exit 137: a failure);
 *   <li>{@link #TAMPERINGS} tamperings of the trainer's report ConfigMap (a value too large for
 *       status, a step beyond the job, a future attempt, a digest in a foreign format, another
 *       job's inventory, unreadable or impossible progress);
 *   <li>{@link #DELETIONS} deletions of an owned object (report ConfigMap, headless Service,
 *       trainer RoleBinding);
 *   <li>the operator process SIGKILLed after {@link #OPERATOR_KILL_AT} disruptions while at least 3
 *       gangs train, and started again after 3 more disruptions (or 20 s), with disruptions while
 *       it is down.
 * </ul>
 *
 * <p>Every job must succeed with the exact final state of its uninterrupted reference, count
 * exactly the preemptions and failures it suffered (tampering and deletions count nothing), never
 * run two attempts' pods at once, never resume from a checkpoint older than one it had recorded,
 * never show a tampered value in status, and never move aside a checkpoint it had recorded as
 * valid; every deleted object comes back. Disruptions that hit a whole node (scheduler preemption,
 * a NoExecute taint, node loss) would hit several jobs in different phases at once, with no exact
 * count to expect: PreemptionExactnessIT and NodeHeartbeatLossIT cover them.
 */
class ChaosIT {
    /**
     * Jobs at once: 6 in the test suite (20 disruptions, 12 tamperings covering every kind, 6
     * deletions covering every owned object; about 5 minutes of a 2-core CI run), more with {@code
     * -Dphoenix.chaos.jobs=10} (32 disruptions, 20 tamperings, 10 deletions). The counts follow.
     */
    static final int JOBS = Math.max(3, Integer.getInteger("phoenix.chaos.jobs", 6));

    static final int DISRUPTIONS = 3 * JOBS + 2;
    static final int TAMPERINGS = 2 * JOBS;
    static final int DELETIONS = JOBS;
    static final int OPERATOR_KILL_AT = DISRUPTIONS * 2 / 5;

    /**
     * Long enough that every job's plan fits between step 40 and its end; each step sleeps 50 ms,
     * so no machine trains through a fault's window (the last 150 steps) faster than 7 s.
     */
    static final int STEPS = 900;

    static final int LAST_TRIGGER = STEPS - 150;

    /**
     * The operator stays down for 3 disruptions or this long, whichever comes first: jobs may
     * finish meanwhile.
     */
    static final long OPERATOR_DOWN_MAX_NANOS = TimeUnit.SECONDS.toNanos(20);

    static final Pattern DIGEST = Pattern.compile("sha256:[0-9a-f]{64}");

    enum Kind {
        EVICT,
        KILL,
        TAMPER,
        DELETE
    }

    /** One planned fault: what, and at which step of the job's progress. */
    record Fault(Kind kind, long atStep, String detail) {}

    static final List<String> TAMPERS =
            List.of(
                    "oversize-checkpoint",
                    "checkpoint-beyond-total-steps",
                    "checkpoint-of-a-future-attempt",
                    "checkpoint-digest-not-sha256",
                    "inventory-of-another-job",
                    "progress-not-json",
                    "progress-beyond-total-steps");

    static final List<String> OWNED = List.of("ConfigMap", "Service", "RoleBinding");

    @Test
    void tenJobsUnderDisruptionsTamperingDeletionsAndAnOperatorRestart() throws Exception {
        PhoenixStack s = E2e.stack();
        KubernetesClient c = s.admin();
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
        for (JobConfig cfg : configs) {
            references.put(
                    cfg.stateKey(),
                    ReferenceRuns.stateDigest(cfg, s.workDir().resolve("references")));
        }
        String ns = s.controlPlane().createNamespace("chaos");
        Map<String, JobConfig> jobs = new LinkedHashMap<>();
        for (int i = 0; i < JOBS; i++) {
            jobs.put("chaos-" + i, configs.get(i % configs.size()));
        }
        Map<String, List<Fault>> plan = plan(rnd, List.copyOf(jobs.keySet()));
        plan.forEach((name, faults) -> System.out.println("plan " + name + ": " + faults));
        for (var e : jobs.entrySet()) {
            E2e.create(s, ns, e.getKey(), e.getValue());
        }

        StatusWatch watch = new StatusWatch(c, ns, jobs.keySet());
        watch.start();

        Map<String, int[]> expected = new HashMap<>(); // name -> {preemptions, failures}
        jobs.keySet().forEach(n -> expected.put(n, new int[2]));
        Map<Kind, Integer> done = new TreeMap<>();
        Map<String, Integer> tampers = new TreeMap<>();
        Set<String> disruptedAttempts = new HashSet<>();
        List<String[]> deleted = new ArrayList<>(); // {job, kind, old uid}
        List<String> log = new ArrayList<>();
        int disruptions = 0;
        boolean operatorKilled = false;
        boolean operatorRestarted = false;
        long killedAt = 0;
        int whileDown = 0;
        long waitingSince = 0;
        long t0 = System.nanoTime();
        while (plan.values().stream().anyMatch(f -> !f.isEmpty())) {
            boolean operatorDown = operatorKilled && !operatorRestarted;
            if (operatorDown
                    && (disruptions >= OPERATOR_KILL_AT + 3
                            || System.nanoTime() - killedAt > OPERATOR_DOWN_MAX_NANOS)) {
                s.operator().start();
                operatorRestarted = true;
                operatorDown = false;
                log.add(
                        String.format(
                                "%5.1fs operator started again (pid %d)",
                                secs(t0), s.operator().pid()));
            }
            Map<String, TrainingJobStatus> statuses = new HashMap<>();
            List<String> training = new ArrayList<>();
            for (var e : jobs.entrySet()) {
                String name = e.getKey();
                TrainingJobStatus st = TrainingJobs.status(c, ns, name);
                statuses.put(name, st);
                if (!plan.get(name).isEmpty()) {
                    assertThat(E2e.succeeded(st) || "Failed".equals(TrainingJobs.phase(st)))
                            .as(name + " ended with planned faults left: " + plan.get(name))
                            .isFalse();
                }
                if (E2e.training(s, ns, name, st, e.getValue().replicas())) {
                    training.add(name);
                }
            }
            // Kill the operator only while at least 3 gangs train: their pods keep running, and
            // status (frozen while the operator is down) still shows them training, so the next
            // disruptions hit jobs whose operator is gone. Until then fire nothing, so that
            // training gangs accumulate (at most a minute; then whatever trains will do).
            if (!operatorKilled && disruptions >= OPERATOR_KILL_AT) {
                if (waitingSince == 0) {
                    waitingSince = System.nanoTime();
                }
                boolean waitedLong =
                        System.nanoTime() - waitingSince > TimeUnit.SECONDS.toNanos(60);
                if (training.size() < 3 && !(waitedLong && !training.isEmpty())) {
                    E2e.sleep(200);
                    continue;
                }
                s.operator().kill();
                operatorKilled = true;
                operatorDown = true;
                killedAt = System.nanoTime();
                log.add(
                        String.format(
                                "%5.1fs operator kill -9 (%d gangs training)",
                                secs(t0), training.size()));
            }
            boolean fired = false;
            for (String name : training) {
                TrainingJobStatus st = statuses.get(name);
                List<Fault> faults = plan.get(name);
                Fault f = faults.isEmpty() ? null : faults.get(0);
                long step = progress(c, ns, name, st, operatorDown);
                if (f == null || step < f.atStep()) {
                    continue;
                }
                int attempt = E2e.attempt(st);
                String what;
                if (f.kind() == Kind.EVICT || f.kind() == Kind.KILL) {
                    if (disruptedAttempts.contains(name + "#" + attempt)) {
                        continue; // one disruption per attempt: wait for the next one
                    }
                    List<Pod> pods = TrainingJobs.runningPods(c, ns, name, attempt);
                    if (pods.isEmpty()) {
                        continue;
                    }
                    Pod victim = pods.get(rnd.nextInt(pods.size()));
                    try {
                        if (f.kind() == Kind.KILL) {
                            RealNode node = s.nodeOf(victim);
                            if (node == null) {
                                continue;
                            }
                            node.killContainer(ns, victim.getMetadata().getName(), "trainer");
                        } else {
                            s.disrupt(victim, "EvictionByEvictionAPI");
                        }
                    } catch (IllegalStateException gone) {
                        continue; // the container ended in between: nothing happened
                    }
                    expected.get(name)[f.kind() == Kind.KILL ? 1 : 0]++;
                    disruptedAttempts.add(name + "#" + attempt);
                    disruptions++;
                    whileDown += operatorDown ? 1 : 0;
                    what = f.kind() + " " + victim.getMetadata().getName();
                } else if (f.kind() == Kind.TAMPER) {
                    tamper(c, ns, name, f.detail(), st);
                    tampers.merge(f.detail(), 1, Integer::sum);
                    what = "TAMPER " + f.detail();
                } else {
                    if (operatorDown) {
                        continue; // recreating needs the operator: wait until it is back
                    }
                    HasMetadata o = owned(c, ns, name, f.detail());
                    if (o == null) {
                        continue; // still being recreated after an earlier deletion
                    }
                    deleted.add(new String[] {name, f.detail(), o.getMetadata().getUid()});
                    c.resource(o).delete();
                    what = "DELETE " + f.detail();
                }
                faults.remove(0);
                done.merge(f.kind(), 1, Integer::sum);
                fired = true;
                log.add(
                        String.format(
                                "%5.1fs %s: %s (attempt %d, step %d)%s",
                                secs(t0),
                                name,
                                what,
                                attempt,
                                step,
                                operatorDown ? " [operator down]" : ""));
            }
            E2e.sleep(fired ? 300 + rnd.nextInt(900) : 200);
        }
        if (!operatorRestarted) {
            if (!operatorKilled) {
                s.operator().kill();
            }
            s.operator().start();
        }
        log.forEach(System.out::println);
        System.out.printf(
                "fired %s; tamperings %s; %d disruptions while the operator was down%n",
                done, tampers, whileDown);
        assertThat(disruptions).as("disruptions").isEqualTo(DISRUPTIONS);
        assertThat(s.operator().starts()).as("operator process starts").isGreaterThanOrEqualTo(2);
        assertThat(whileDown)
                .as("disruptions while the operator was down")
                .isGreaterThanOrEqualTo(1);

        for (String name : jobs.keySet()) {
            E2e.await(s, ns, name, Duration.ofMinutes(6), "Succeeded", E2e::succeeded);
        }
        watch.stop();
        System.out.printf("all %d jobs Succeeded %.0f s after the first fault%n", JOBS, secs(t0));

        SoftAssertions soft = new SoftAssertions();
        int rejected = 0;
        int cleared = 0;
        int adopted = 0;
        int movedAside = 0;
        for (var e : jobs.entrySet()) {
            String name = e.getKey();
            JobConfig cfg = e.getValue();
            TrainingJobStatus st = TrainingJobs.status(c, ns, name);
            int[] ex = expected.get(name);
            String ref = references.get(cfg.stateKey()).get(10, TimeUnit.MINUTES);
            String digest = TrainingJobs.finalStateDigest(c, ns, name);
            List<String> reasons = events(c, ns, name);
            int r = Collections.frequency(reasons, "ReportRejected");
            int cl = Collections.frequency(reasons, "ReportCleared");
            int ad = Collections.frequency(reasons, "ResumedFromNewer");
            rejected += r;
            cleared += cl;
            adopted += ad;
            List<String> aside = asideCheckpoints(s.checkpointDir(ns, name));
            movedAside += aside.size();
            System.out.printf(
                    "%s ws=%d: attempts %d, preemptions %d (expected %d), failures %d (expected %d),"
                            + " reports rejected %d, cleared %d, resumed from newer %d, moved aside %s,"
                            + " digest %s %s%n",
                    name,
                    cfg.replicas(),
                    st.getAttempt(),
                    st.getPreemptions(),
                    ex[0],
                    st.getFailures(),
                    ex[1],
                    r,
                    cl,
                    ad,
                    aside,
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
                    .isEqualTo((long) cfg.steps());
            soft.assertThat(st.getPreemptions()).as(name + " preemptions").isEqualTo(ex[0]);
            soft.assertThat(st.getFailures()).as(name + " failures").isEqualTo(ex[1]);
            soft.assertThat(st.getAttempt()).as(name + " attempts").isEqualTo(1 + ex[0] + ex[1]);
            st.getCheckpoints().stream()
                    .filter(cr -> !cr.usable())
                    .forEach(
                            cr ->
                                    System.out.printf(
                                            "%s: checkpoint %d (%s) invalid: %s%n",
                                            name,
                                            cr.getStep(),
                                            cr.getTimeline(),
                                            cr.getInvalidReason()));
            soft.assertThat(st.getCheckpoints())
                    .as(name + " no checkpoint turned out invalid")
                    .allMatch(CheckpointRecord::usable);
            for (String a : aside) {
                // Moved aside at the time its directory is stamped with: status must not have
                // listed that step as valid before then (the same step written again later by a
                // resumed attempt is a different checkpoint).
                Long seen = watch.firstSeen(name).get(stepOf(a));
                soft.assertThat(seen == null || seen > movedAt(a))
                        .as(
                                name
                                        + ": "
                                        + a
                                        + " was moved aside although status had it as valid since "
                                        + (seen == null
                                                ? null
                                                : java.time.Instant.ofEpochMilli(seen)))
                        .isTrue();
            }
            ConfigMap report = c.configMaps().inNamespace(ns).withName(name + "-report").get();
            soft.assertThat(report).as(name + " report ConfigMap").isNotNull();
            if (report != null) {
                soft.assertThat(
                                TrainingJobs.json(report.getData().get("checkpoint"))
                                        .path("stateDigest")
                                        .asText())
                        .as(name + " last report (the trainer reports again after tampering)")
                        .isEqualTo(ref);
            }
            soft.assertThat(TrainingJobs.pods(c, ns, name))
                    .as(name + " pods left: only the final attempt's")
                    .allMatch(p -> TrainingJobs.attemptOf(p) == st.getAttempt());
        }
        for (String[] d : deleted) {
            HasMetadata now = owned(c, ns, d[0], d[1]);
            soft.assertThat(now == null ? null : now.getMetadata().getUid())
                    .as(d[0] + " " + d[1] + " recreated after its deletion")
                    .isNotNull()
                    .isNotEqualTo(d[2]);
        }
        System.out.printf(
                "fault injection: %d disruptions, %d tamperings, %d deletions; %d ReportRejected,"
                        + " %d ReportCleared and %d ResumedFromNewer events; %d checkpoints moved"
                        + " aside; %d status snapshots checked%n",
                disruptions,
                done.getOrDefault(Kind.TAMPER, 0),
                done.getOrDefault(Kind.DELETE, 0),
                rejected,
                cleared,
                adopted,
                movedAside,
                watch.snapshots());
        soft.assertThat(rejected).as("tampered reports the operator rejected").isPositive();
        soft.assertThat(auditor.violations()).as("two attempts' pods at once").isEmpty();
        soft.assertThat(watch.regressions())
                .as("resumes from older checkpoints than recorded")
                .isEmpty();
        soft.assertThat(watch.tainted()).as("tampered values seen in status").isEmpty();
        soft.assertThat(s.operator().tail())
                .as("operator log: status writes that failed")
                .doesNotContain("request is too large");
        soft.assertAll();
    }

    /**
     * Per job, a list of faults in the order of their trigger steps: 3 disruptions each plus 4 more
     * on random jobs (at most 5 per job, spaced so that each lands in its own attempt), 2
     * tamperings and 1 deletion each.
     */
    static Map<String, List<Fault>> plan(Random rnd, List<String> names) {
        Map<String, Integer> disruptions = new HashMap<>();
        names.forEach(n -> disruptions.put(n, 3));
        for (int extra = DISRUPTIONS - 3 * names.size(); extra > 0; ) {
            String n = names.get(rnd.nextInt(names.size()));
            if (disruptions.get(n) < 5) {
                disruptions.merge(n, 1, Integer::sum);
                extra--;
            }
        }
        Map<String, List<Fault>> plan = new LinkedHashMap<>();
        for (int i = 0; i < names.size(); i++) {
            String n = names.get(i);
            List<Fault> faults = new ArrayList<>();
            int k = disruptions.get(n);
            long span = (LAST_TRIGGER - 40) / k;
            for (int d = 0; d < k; d++) {
                faults.add(
                        new Fault(
                                rnd.nextBoolean() ? Kind.EVICT : Kind.KILL,
                                40 + d * span + rnd.nextInt((int) span / 2),
                                ""));
            }
            for (int t = 0; t < TAMPERINGS / names.size(); t++) {
                faults.add(
                        new Fault(
                                Kind.TAMPER,
                                40 + rnd.nextInt(LAST_TRIGGER - 40),
                                TAMPERS.get((2 * i + t) % TAMPERS.size())));
            }
            for (int t = 0; t < DELETIONS / names.size(); t++) {
                faults.add(
                        new Fault(
                                Kind.DELETE,
                                40 + rnd.nextInt(LAST_TRIGGER - 40),
                                OWNED.get((i + t) % OWNED.size())));
            }
            faults.sort((a, b) -> Long.compare(a.atStep(), b.atStep()));
            plan.put(n, faults);
        }
        return plan;
    }

    /**
     * The job's progress: status while the operator runs; the trainer's own progress report while
     * it is down (status is frozen then, the trainer is not).
     */
    private static long progress(
            KubernetesClient c, String ns, String name, TrainingJobStatus st, boolean down) {
        long step = E2e.step(st);
        if (down) {
            ConfigMap cm = c.configMaps().inNamespace(ns).withName(name + "-report").get();
            try {
                JsonNode p =
                        cm == null || cm.getData() == null
                                ? null
                                : TrainingJobs.json(cm.getData().get("progress"));
                if (p != null
                        && p.path("attempt").asInt() == E2e.attempt(st)
                        && p.path("step").asLong() <= STEPS) {
                    step = Math.max(step, p.path("step").asLong());
                }
            } catch (IOException | RuntimeException unreadable) {
                // tampered or absent: status it is
            }
        }
        return step;
    }

    /** Writes one bad value into the trainer's report ConfigMap, as a buggy trainer might. */
    private static void tamper(
            KubernetesClient c, String ns, String name, String kind, TrainingJobStatus st) {
        int attempt = E2e.attempt(st);
        String timeline = st.getTimeline() == null ? "t1" : st.getTimeline();
        long step = Math.max(0, E2e.step(st));
        String digest = "sha256:" + "ab".repeat(32);
        String key;
        String value;
        switch (kind) {
            case "oversize-checkpoint" -> {
                key = "checkpoint";
                value =
                        checkpoint(step, digest, attempt, timeline)
                                .replace("\"time\":\"", "\"time\":\"" + "x".repeat(900_000));
            }
            case "checkpoint-beyond-total-steps" -> {
                key = "checkpoint";
                value = checkpoint(STEPS + 500, digest, attempt, timeline);
            }
            case "checkpoint-of-a-future-attempt" -> {
                key = "checkpoint";
                value = checkpoint(step, digest, attempt + 5, timeline);
            }
            case "checkpoint-digest-not-sha256" -> {
                key = "checkpoint";
                value = checkpoint(step, "md5:0123456789abcdef", attempt, timeline);
            }
            case "inventory-of-another-job" -> {
                key = "inventory";
                value =
                        "{\"timeline\":\""
                                + timeline
                                + "\",\"attempt\":"
                                + attempt
                                + ",\"jobUid\":\"0badc0de-another-job\",\"checkpoints\":[]}";
            }
            case "progress-not-json" -> {
                key = "progress";
                value = "{\"step\": forty-two";
            }
            case "progress-beyond-total-steps" -> {
                key = "progress";
                value =
                        "{\"step\":"
                                + (STEPS + 100)
                                + ",\"attempt\":"
                                + attempt
                                + ",\"timeline\":\""
                                + timeline
                                + "\",\"time\":\"2026-12-02T00:00:00Z\"}";
            }
            default -> throw new IllegalArgumentException(kind);
        }
        // A merge patch of the one key, without a resourceVersion: the trainer writes the same
        // ConfigMap concurrently, and a tampering must not fail on its conflict.
        c.configMaps()
                .inNamespace(ns)
                .withName(name + "-report")
                .patch(
                        PatchContext.of(PatchType.JSON_MERGE),
                        Serialization.asJson(Map.of("data", Map.of(key, value))));
    }

    private static String checkpoint(long step, String digest, int attempt, String timeline) {
        return "{\"step\":"
                + step
                + ",\"digest\":\""
                + digest
                + "\",\"stateDigest\":\""
                + digest
                + "\",\"attempt\":"
                + attempt
                + ",\"timeline\":\""
                + timeline
                + "\",\"time\":\"2026-12-02T00:00:00Z\"}";
    }

    private static HasMetadata owned(KubernetesClient c, String ns, String job, String kind) {
        return switch (kind) {
            case "ConfigMap" -> c.configMaps().inNamespace(ns).withName(job + "-report").get();
            case "Service" -> c.services().inNamespace(ns).withName(job).get();
            case "RoleBinding" ->
                    c.rbac().roleBindings().inNamespace(ns).withName(job + "-trainer").get();
            default -> throw new IllegalArgumentException(kind);
        };
    }

    private static List<String> events(KubernetesClient c, String ns, String job) {
        List<String> out = new ArrayList<>();
        for (Event e : c.v1().events().inNamespace(ns).list().getItems()) {
            if (job.equals(e.getInvolvedObject().getName())) {
                int n = e.getCount() == null ? 1 : e.getCount();
                for (int i = 0; i < n; i++) {
                    out.add(e.getReason());
                }
            }
        }
        return out;
    }

    private static final Pattern STEP_DIR = Pattern.compile("step-0*([0-9]+)$");

    /**
     * Committed checkpoints (a manifest inside) the trainer moved aside into {@code abandoned/}, as
     * paths relative to the job's checkpoint directory.
     */
    static List<String> asideCheckpoints(Path dir) throws IOException {
        Path abandoned = dir.resolve("abandoned");
        if (!Files.isDirectory(abandoned)) {
            return List.of();
        }
        try (Stream<Path> walk = Files.walk(abandoned, 2)) {
            return walk.filter(p -> STEP_DIR.matcher(p.getFileName().toString()).matches())
                    .filter(p -> Files.exists(p.resolve("manifest.json")))
                    .map(p -> dir.relativize(p).toString())
                    .sorted()
                    .toList();
        }
    }

    private static final java.time.format.DateTimeFormatter STAMP =
            java.time.format.DateTimeFormatter.ofPattern("yyyyMMdd'T'HHmmss.SSS'Z'")
                    .withZone(java.time.ZoneOffset.UTC);

    /** When the trainer moved it aside: {@code abandoned/<label>_<UTC stamp>/step-N}. */
    static long movedAt(String asidePath) {
        String parent = Path.of(asidePath).getParent().getFileName().toString();
        String stamp = parent.substring(parent.lastIndexOf('_') + 1);
        return java.time.Instant.from(STAMP.parse(stamp)).toEpochMilli();
    }

    static long stepOf(String asidePath) {
        Matcher m = STEP_DIR.matcher(Path.of(asidePath).getFileName().toString());
        return m.matches() ? Long.parseLong(m.group(1)) : -1;
    }

    /**
     * Polls every job's status throughout: an attempt must never resume before a checkpoint status
     * already recorded, and no tampered value may ever be in status.
     */
    static final class StatusWatch {
        private final KubernetesClient c;
        private final String ns;
        private final Set<String> jobs;

        /** job → step → when status first listed it as a valid checkpoint (epoch ms). */
        private final Map<String, Map<Long, Long>> known = new ConcurrentHashMap<>();

        private final Map<String, Integer> lastAttempt = new ConcurrentHashMap<>();
        private final List<String> regressions = Collections.synchronizedList(new ArrayList<>());
        private final List<String> tainted = Collections.synchronizedList(new ArrayList<>());
        private volatile int snapshots;
        private Thread thread;

        StatusWatch(KubernetesClient c, String ns, Set<String> jobs) {
            this.c = c;
            this.ns = ns;
            this.jobs = jobs;
        }

        void start() {
            thread = new Thread(this::run, "chaos-status-watch");
            thread.setDaemon(true);
            thread.start();
        }

        void stop() {
            thread.interrupt();
        }

        Map<Long, Long> firstSeen(String job) {
            return known.getOrDefault(job, Map.of());
        }

        List<String> regressions() {
            return regressions;
        }

        List<String> tainted() {
            return tainted;
        }

        int snapshots() {
            return snapshots;
        }

        private void run() {
            while (!Thread.currentThread().isInterrupted()) {
                for (String name : jobs) {
                    try {
                        check(name, TrainingJobs.status(c, ns, name));
                        snapshots++;
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
        }

        private void check(String name, TrainingJobStatus st) {
            int a = E2e.attempt(st);
            Integer prev = lastAttempt.put(name, a);
            Map<Long, Long> k = known.computeIfAbsent(name, x -> new ConcurrentHashMap<>());
            long max = k.keySet().stream().mapToLong(Long::longValue).max().orElse(0);
            if (prev != null && a > prev && E2e.resumedFrom(st) < max) {
                regressions.add(
                        name
                                + ": attempt "
                                + a
                                + " resumed from "
                                + E2e.resumedFrom(st)
                                + " although checkpoint "
                                + max
                                + " was recorded before");
            }
            List<CheckpointRecord> records = new ArrayList<>();
            if (st.getLatestCheckpoint() != null) {
                records.add(st.getLatestCheckpoint());
            }
            if (st.getCheckpoints() != null) {
                records.addAll(st.getCheckpoints());
            }
            for (CheckpointRecord r : records) {
                boolean bad =
                        r.getStep() == null
                                || r.getStep() > STEPS
                                || !DIGEST.matcher(String.valueOf(r.getDigest())).matches()
                                || (r.getAttempt() != null && r.getAttempt() > a)
                                || (r.getTime() != null && r.getTime().length() > 64);
                if (bad) {
                    tainted.add(name + ": " + Serialization.asJson(r));
                } else if (r.usable()) {
                    k.putIfAbsent(r.getStep(), System.currentTimeMillis());
                }
            }
            if (E2e.step(st) > STEPS) {
                tainted.add(name + ": currentStep " + st.getCurrentStep());
            }
            int size = Serialization.asJson(st).length();
            if (size > 64 * 1024) {
                tainted.add(name + ": status of " + size + " bytes");
            }
        }
    }

    private static double secs(long t0) {
        return (System.nanoTime() - t0) / 1e9;
    }
}
