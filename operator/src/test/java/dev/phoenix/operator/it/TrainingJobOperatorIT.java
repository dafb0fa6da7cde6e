package dev.phoenix.operator.it;

import static dev.phoenix.operator.it.OperatorHarness.TIMEOUT;
import static dev.phoenix.operator.it.OperatorHarness.awaitGang;
import static dev.phoenix.operator.it.OperatorHarness.env;
import static dev.phoenix.operator.it.OperatorHarness.get;
import static dev.phoenix.operator.it.OperatorHarness.phase;
import static dev.phoenix.operator.it.OperatorHarness.pods;
import static dev.phoenix.operator.it.OperatorHarness.podsOfAttempt;
import static dev.phoenix.operator.it.OperatorHarness.report;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.phoenix.api.v1alpha1.TrainingJob;
import dev.phoenix.local.controlplane.ControlPlane;
import dev.phoenix.local.controlplane.junit.TestNamespace;
import dev.phoenix.local.controlplane.junit.WithControlPlane;
import dev.phoenix.local.disruption.ClusterDisruptions;
import dev.phoenix.local.kwok.Kwok;
import dev.phoenix.operator.PhoenixOperator;
import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.Watch;
import io.fabric8.kubernetes.client.Watcher;
import io.fabric8.kubernetes.client.WatcherException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The operator against a real control plane (kube-apiserver, etcd, kube-scheduler,
 * kube-controller-manager) whose node and pods are simulated by KWOK: the scheduler binds the
 * workers to a KWOK node, KWOK runs them and makes a container exit when a test says so; everything
 * else (informers, status subresource, 409s, owner references, RBAC objects, events, garbage
 * collection) is the real components'. The real sources of disruption are in {@link
 * DisruptionSourcesIT}.
 */
@WithControlPlane
class TrainingJobOperatorIT {
    private static KubernetesClient client;
    private static PhoenixOperator operator;
    private static Kwok kwok;
    private String ns;

    @BeforeAll
    static void startOperator(ControlPlane cp, KubernetesClient admin) throws Exception {
        client = admin;
        OperatorHarness.installCrd(client);
        kwok = Kwok.start(cp);
        kwok.addNode("kwok-operator-it");
        operator = OperatorHarness.startOperator(client);
    }

    @AfterAll
    static void stopOperator() {
        if (operator != null) {
            operator.close();
        }
        if (kwok != null) {
            kwok.close();
        }
    }

    @BeforeEach
    void namespace(TestNamespace namespace) {
        ns = namespace.name();
    }

    /** The simulated container of this pod (the current one of that name) exits by itself. */
    private void exit(String pod, int code, String message) {
        kwok.exit(client.pods().inNamespace(ns).withName(pod).require(), code, message);
    }

    private TrainingJob create(TrainingJob job) {
        return client.resource(job).create();
    }

    private void awaitPhase(String name, String phase) {
        await().atMost(TIMEOUT).until(() -> phase(client, ns, name).orElse("").equals(phase));
    }

    @Test
    void createStartsTheGangWithThePodContractAndItsResources() {
        create(OperatorHarness.job(ns, "llm", 2));
        List<Pod> gang = awaitGang(client, ns, "llm", 1, 2);
        for (int rank = 0; rank < 2; rank++) {
            Pod pod = gang.get(rank);
            assertThat(pod.getMetadata().getName()).isEqualTo("llm-worker-" + rank);
            assertThat(pod.getMetadata().getOwnerReferences())
                    .singleElement()
                    .satisfies(o -> assertThat(o.getKind()).isEqualTo("TrainingJob"));
            assertThat(env(pod))
                    .containsEntry("PHOENIX_RANK", Integer.toString(rank))
                    .containsEntry("PHOENIX_WORLD_SIZE", "2")
                    .containsEntry("PHOENIX_ATTEMPT", "1")
                    .containsEntry("PHOENIX_RESUME_STEP", "-1")
                    .containsEntry("PHOENIX_TIMELINE", "t1")
                    .containsEntry("PHOENIX_CHECKPOINT_DIR", "/checkpoints")
                    .containsEntry("PHOENIX_REPORT_CONFIGMAP", "llm-report")
                    .containsEntry("MASTER_ADDR", "llm-worker-0.llm");
        }
        assertThat(client.services().inNamespace(ns).withName("llm").get().getSpec().getClusterIP())
                .isEqualTo("None");
        assertThat(client.configMaps().inNamespace(ns).withName("llm-report").get()).isNotNull();
        assertThat(client.serviceAccounts().inNamespace(ns).withName("llm-trainer").get())
                .isNotNull();
        var role = client.rbac().roles().inNamespace(ns).withName("llm-trainer").get();
        assertThat(role.getRules())
                .singleElement()
                .satisfies(
                        r -> {
                            assertThat(r.getResources()).containsExactly("configmaps");
                            assertThat(r.getResourceNames()).containsExactly("llm-report");
                            assertThat(r.getVerbs())
                                    .containsExactlyInAnyOrder("get", "patch", "update");
                        });
        assertThat(client.rbac().roleBindings().inNamespace(ns).withName("llm-trainer").get())
                .isNotNull();
        awaitPhase("llm", "Running");
        TrainingJob job = get(client, ns, "llm");
        assertThat(job.getStatus().getAttempt()).isEqualTo(1);
        assertThat(job.getStatus().getObservedGeneration())
                .isEqualTo(job.getMetadata().getGeneration());
        await().atMost(TIMEOUT)
                .until(() -> events("llm").stream().anyMatch(e -> e.getReason().equals("Started")));
    }

    @Test
    void aDeletionByAnyoneButTheOperatorIsAPreemption() {
        create(OperatorHarness.job(ns, "llm", 2));
        awaitGang(client, ns, "llm", 1, 2);
        awaitPhase("llm", "Running");
        report(client, ns, "llm", 30, 1, "t1");
        await().atMost(TIMEOUT)
                .until(() -> get(client, ns, "llm").getStatus().getLatestCheckpoint() != null);
        client.pods().inNamespace(ns).withName("llm-worker-0").delete();
        List<Pod> gang = awaitGang(client, ns, "llm", 2, 2);
        assertThat(env(gang.get(0))).containsEntry("PHOENIX_RESUME_STEP", "30");
        assertThat(get(client, ns, "llm").getStatus().getPreemptions()).isEqualTo(1);
        assertThat(get(client, ns, "llm").getStatus().getFailures()).isZero();
    }

    @Test
    void applicationFailuresAreCountedRestartedThenFailTheJobAtTheLimit() {
        TrainingJob job = OperatorHarness.job(ns, "llm", 2);
        job.getSpec().setBackoffLimit(1);
        create(job);
        awaitGang(client, ns, "llm", 1, 2);
        awaitPhase("llm", "Running");
        exit("llm-worker-1", 1, "RuntimeError: CUDA error: an illegal memory access");
        awaitGang(client, ns, "llm", 2, 2);
        assertThat(get(client, ns, "llm").getStatus().getFailures()).isEqualTo(1);
        assertThat(get(client, ns, "llm").getStatus().getPreemptions()).isZero();
        awaitPhase("llm", "Running");

        exit("llm-worker-0", 137, "");
        awaitPhase("llm", "Failed");
        TrainingJob failed = get(client, ns, "llm");
        assertThat(failed.getStatus().getFailures()).isEqualTo(2);
        var condition =
                failed.getStatus().getConditions().stream()
                        .filter(c -> c.getType().equals("Failed"))
                        .findFirst()
                        .orElseThrow();
        assertThat(condition.getReason()).isEqualTo("BackoffLimitExceeded");
        assertThat(condition.getMessage()).contains("llm-worker-0").contains("backoffLimit=1");
        // The other rank is stopped; no third attempt ever starts.
        await().atMost(TIMEOUT)
                .until(
                        () ->
                                pods(client, ns, "llm").stream()
                                        .noneMatch(
                                                p -> "Running".equals(p.getStatus().getPhase())));
        assertThat(pods(client, ns, "llm"))
                .allMatch(p -> "2".equals(p.getMetadata().getLabels().get("phoenix.dev/attempt")));
    }

    @Test
    void resumeStepPinnedAtCreationAndChangedLater() {
        TrainingJob job = OperatorHarness.job(ns, "llm", 2);
        job.getSpec().setResumeStep(20L);
        create(job);
        assertThat(awaitGang(client, ns, "llm", 1, 2))
                .allSatisfy(p -> assertThat(env(p)).containsEntry("PHOENIX_RESUME_STEP", "20"));
        awaitPhase("llm", "Running");
        report(client, ns, "llm", 30, 1, "t1");
        report(client, ns, "llm", 40, 1, "t1");
        await().atMost(TIMEOUT)
                .until(
                        () ->
                                get(client, ns, "llm").getStatus().getLatestCheckpoint().getStep()
                                        == 40);

        client.resources(TrainingJob.class)
                .inNamespace(ns)
                .withName("llm")
                .edit(
                        j -> {
                            j.getSpec().setResumeStep(30L);
                            return j;
                        });
        List<Pod> gang = awaitGang(client, ns, "llm", 2, 2);
        assertThat(gang)
                .allSatisfy(
                        p ->
                                assertThat(env(p))
                                        .containsEntry("PHOENIX_RESUME_STEP", "30")
                                        .containsEntry("PHOENIX_TIMELINE", "t2"));
        TrainingJob after = get(client, ns, "llm");
        assertThat(after.getStatus().getPreemptions()).isZero();
        assertThat(after.getStatus().getFailures()).isZero();
        assertThat(after.getStatus().getLatestCheckpoint().getStep()).isEqualTo(30);
        assertThat(after.getStatus().getAppliedResumeStep()).isEqualTo(30);
    }

    @Test
    void anInvalidCheckpointIsMarkedAndTheGangFallsBackToTheNextOlderValidOne() {
        create(OperatorHarness.job(ns, "llm", 2));
        awaitGang(client, ns, "llm", 1, 2);
        awaitPhase("llm", "Running");
        report(client, ns, "llm", 10, 1, "t1");
        await().atMost(TIMEOUT)
                .until(() -> get(client, ns, "llm").getStatus().getLatestCheckpoint() != null);
        report(client, ns, "llm", 20, 1, "t1");
        await().atMost(TIMEOUT)
                .until(
                        () ->
                                get(client, ns, "llm").getStatus().getLatestCheckpoint().getStep()
                                        == 20);
        client.pods().inNamespace(ns).withName("llm-worker-1").delete();
        awaitGang(client, ns, "llm", 2, 2);
        awaitPhase("llm", "Running");

        exit(
                "llm-worker-0",
                65,
                "{\"result\":\"CheckpointInvalid\",\"step\":20,"
                        + "\"message\":\"step-0000000020/layer0.W: SHA-256 mismatch\"}");
        List<Pod> gang = awaitGang(client, ns, "llm", 3, 2);
        assertThat(gang)
                .allSatisfy(
                        p ->
                                assertThat(env(p))
                                        .containsEntry("PHOENIX_RESUME_STEP", "10")
                                        .containsEntry("PHOENIX_TIMELINE", "t2"));
        TrainingJob job = get(client, ns, "llm");
        assertThat(job.getStatus().getCheckpoints())
                .filteredOn(c -> c.getStep() == 20)
                .singleElement()
                .satisfies(
                        c -> {
                            assertThat(c.getValid()).isFalse();
                            assertThat(c.getInvalidReason()).contains("SHA-256 mismatch");
                        });
        assertThat(job.getStatus().getFailures()).isZero();
        await().atMost(TIMEOUT)
                .until(
                        () ->
                                events("llm").stream()
                                        .anyMatch(e -> e.getReason().equals("InvalidCheckpoint")));
    }

    @Test
    void anInvalidPinnedCheckpointStopsTheJobWithAConditionSayingWhich() {
        TrainingJob job = OperatorHarness.job(ns, "llm", 1);
        job.getSpec().setResumeStep(500L);
        create(job);
        awaitGang(client, ns, "llm", 1, 1);
        exit(
                "llm-worker-0",
                65,
                "{\"result\":\"CheckpointInvalid\",\"step\":500,"
                        + "\"message\":\"step-0000000500 does not exist\"}");
        awaitPhase("llm", "Failed");
        var condition =
                get(client, ns, "llm").getStatus().getConditions().stream()
                        .filter(c -> c.getType().equals("Failed"))
                        .findFirst()
                        .orElseThrow();
        assertThat(condition.getReason()).isEqualTo("PinnedCheckpointInvalid");
        assertThat(condition.getMessage())
                .contains("spec.resumeStep=500")
                .contains("does not exist");
    }

    @Test
    void suspendStopsTheGangAndUnsuspendResumesFromTheLatestCheckpoint() {
        create(OperatorHarness.job(ns, "llm", 2));
        awaitGang(client, ns, "llm", 1, 2);
        awaitPhase("llm", "Running");
        report(client, ns, "llm", 50, 1, "t1");
        await().atMost(TIMEOUT)
                .until(() -> get(client, ns, "llm").getStatus().getLatestCheckpoint() != null);
        client.resources(TrainingJob.class)
                .inNamespace(ns)
                .withName("llm")
                .edit(
                        j -> {
                            j.getSpec().setSuspend(true);
                            return j;
                        });
        awaitPhase("llm", "Suspended");
        assertThat(pods(client, ns, "llm")).isEmpty();
        client.resources(TrainingJob.class)
                .inNamespace(ns)
                .withName("llm")
                .edit(
                        j -> {
                            j.getSpec().setSuspend(false);
                            return j;
                        });
        List<Pod> gang = awaitGang(client, ns, "llm", 2, 2);
        assertThat(env(gang.get(0))).containsEntry("PHOENIX_RESUME_STEP", "50");
        TrainingJob job = get(client, ns, "llm");
        assertThat(job.getStatus().getPreemptions()).isZero();
        assertThat(job.getStatus().getFailures()).isZero();
    }

    @Test
    void jobSucceedsWhenRankZeroExitsZero() {
        create(OperatorHarness.job(ns, "llm", 2));
        awaitGang(client, ns, "llm", 1, 2);
        awaitPhase("llm", "Running");
        exit("llm-worker-1", 0, "");
        exit("llm-worker-0", 0, "{\"result\":\"Succeeded\",\"step\":100}");
        awaitPhase("llm", "Succeeded");
        assertThat(get(client, ns, "llm").getStatus().getCompletionTime()).isNotNull();
    }

    @Test
    void aFinishedJobIsDeletedAfterItsTtl() {
        TrainingJob job = OperatorHarness.job(ns, "ttl", 1);
        job.getSpec().setTtlSecondsAfterFinished(2);
        create(job);
        awaitGang(client, ns, "ttl", 1, 1);
        awaitPhase("ttl", "Running");
        exit("ttl-worker-0", 0, "");
        awaitPhase("ttl", "Succeeded");
        await().atMost(TIMEOUT).until(() -> get(client, ns, "ttl") == null);
    }

    @Test
    void aGangPreemptedAndRemovedWhileTheOperatorIsDownRestartsWhenItIsBack() throws Exception {
        // Found by ChaosIT: a 1-pod gang preempted and removed while the operator was down. Back
        // up, the
        // operator saw the pod vanished, ended the attempt, and nothing (no pod event) woke it
        // again.
        create(OperatorHarness.job(ns, "solo", 1));
        awaitGang(client, ns, "solo", 1, 1);
        awaitPhase("solo", "Running");
        report(client, ns, "solo", 50, 1, "t1");
        await().atMost(TIMEOUT)
                .until(() -> get(client, ns, "solo").getStatus().getLatestCheckpoint() != null);
        operator.close();

        client.pods().inNamespace(ns).withName("solo-worker-0").delete();
        await().atMost(TIMEOUT).until(() -> pods(client, ns, "solo").isEmpty());

        operator = OperatorHarness.startOperator(client);
        List<Pod> gang = awaitGang(client, ns, "solo", 2, 1);
        assertThat(env(gang.get(0))).containsEntry("PHOENIX_RESUME_STEP", "50");
        awaitPhase("solo", "Running");
        TrainingJob job = get(client, ns, "solo");
        assertThat(job.getStatus().getPreemptions()).isEqualTo(1);
        assertThat(job.getStatus().getFailures()).isZero();
    }

    @Test
    void theOperatorKilledMidRecoveryContinuesWithoutEverRunningTwoAttempts() throws Exception {
        Map<String, Set<String>> liveByAttempt = new ConcurrentHashMap<>();
        List<String> overlaps = new CopyOnWriteArrayList<>();
        Watch watch =
                client.pods()
                        .inNamespace(ns)
                        .watch(
                                new Watcher<>() {
                                    @Override
                                    public synchronized void eventReceived(Action action, Pod pod) {
                                        String attempt =
                                                pod.getMetadata()
                                                        .getLabels()
                                                        .get("phoenix.dev/attempt");
                                        if (action == Action.DELETED) {
                                            liveByAttempt
                                                    .getOrDefault(attempt, new HashSet<>())
                                                    .remove(pod.getMetadata().getName());
                                        } else {
                                            liveByAttempt
                                                    .computeIfAbsent(
                                                            attempt,
                                                            a -> ConcurrentHashMap.newKeySet())
                                                    .add(pod.getMetadata().getName());
                                        }
                                        if (liveByAttempt.values().stream()
                                                        .filter(s -> !s.isEmpty())
                                                        .count()
                                                > 1) {
                                            overlaps.add(new HashMap<>(liveByAttempt).toString());
                                        }
                                    }

                                    @Override
                                    public void onClose(WatcherException cause) {}
                                });
        try {
            create(OperatorHarness.job(ns, "llm", 3));
            awaitGang(client, ns, "llm", 1, 3);
            awaitPhase("llm", "Running");
            report(client, ns, "llm", 70, 1, "t1");
            await().atMost(TIMEOUT)
                    .until(() -> get(client, ns, "llm").getStatus().getLatestCheckpoint() != null);

            // The old gang hangs in termination while the operator dies: a finalizer holds each pod
            // as a kubelet still stopping its containers would.
            pods(client, ns, "llm").forEach(p -> hold(p, true));
            new ClusterDisruptions(client)
                    .evict(client.pods().inNamespace(ns).withName("llm-worker-2").require());
            awaitPhase("llm", "Restarting");
            await().atMost(TIMEOUT)
                    .until(
                            () ->
                                    pods(client, ns, "llm").stream()
                                            .allMatch(
                                                    p ->
                                                            p.getMetadata().getDeletionTimestamp()
                                                                    != null));
            operator.close();

            pods(client, ns, "llm").forEach(p -> hold(p, false));
            await().atMost(TIMEOUT).until(() -> pods(client, ns, "llm").isEmpty());

            operator = OperatorHarness.startOperator(client);
            List<Pod> gang = awaitGang(client, ns, "llm", 2, 3);
            assertThat(gang)
                    .allSatisfy(p -> assertThat(env(p)).containsEntry("PHOENIX_RESUME_STEP", "70"));
            awaitPhase("llm", "Running");
            assertThat(pods(client, ns, "llm"))
                    .as("only the new attempt's gang")
                    .hasSize(3)
                    .allMatch(
                            p ->
                                    "2"
                                            .equals(
                                                    p.getMetadata()
                                                            .getLabels()
                                                            .get("phoenix.dev/attempt")));
            TrainingJob job = get(client, ns, "llm");
            assertThat(job.getStatus().getAttempt()).isEqualTo(2);
            assertThat(job.getStatus().getPreemptions()).isEqualTo(1);
            assertThat(overlaps).as("pods of two attempts alive at once").isEmpty();
        } finally {
            watch.close();
        }
    }

    @Test
    void ownedObjectsDeletedWhileTheJobRunsAreRecreatedWithoutTouchingTheGang() {
        // Issue 12 item 6: without its RoleBinding the trainer could not report until the next
        // restart.
        create(OperatorHarness.job(ns, "llm", 2));
        List<Pod> gang = awaitGang(client, ns, "llm", 1, 2);
        awaitPhase("llm", "Running");
        Map<String, String> uids = ownedUids("llm");
        assertThat(uids.values()).doesNotContainNull();
        client.configMaps().inNamespace(ns).withName("llm-report").delete();
        client.services().inNamespace(ns).withName("llm").delete();
        client.rbac().roleBindings().inNamespace(ns).withName("llm-trainer").delete();
        client.rbac().roles().inNamespace(ns).withName("llm-trainer").delete();
        client.serviceAccounts().inNamespace(ns).withName("llm-trainer").delete();
        await().atMost(TIMEOUT)
                .untilAsserted(
                        () ->
                                assertThat(ownedUids("llm"))
                                        .allSatisfy(
                                                (kind, uid) ->
                                                        assertThat(uid)
                                                                .as(kind + " recreated")
                                                                .isNotNull()
                                                                .isNotEqualTo(uids.get(kind))));
        assertThat(podsOfAttempt(client, ns, "llm", 1))
                .extracting(p -> p.getMetadata().getUid())
                .as("the same gang, untouched")
                .containsExactlyInAnyOrderElementsOf(
                        gang.stream().map(p -> p.getMetadata().getUid()).toList());
        TrainingJob job = get(client, ns, "llm");
        assertThat(job.getStatus().getAttempt()).isEqualTo(1);
        assertThat(job.getStatus().getPhase().name()).isEqualTo("Running");
        awaitEvents("llm", "ResourceRecreated");
        // The recreated report ConfigMap works: a report reaches status.
        report(client, ns, "llm", 30, 1, "t1");
        await().atMost(TIMEOUT)
                .until(() -> get(client, ns, "llm").getStatus().getLatestCheckpoint() != null);
    }

    private Map<String, String> ownedUids(String job) {
        Map<String, String> m = new java.util.TreeMap<>();
        m.put(
                "ConfigMap",
                uid(client.configMaps().inNamespace(ns).withName(job + "-report").get()));
        m.put("Service", uid(client.services().inNamespace(ns).withName(job).get()));
        m.put(
                "RoleBinding",
                uid(client.rbac().roleBindings().inNamespace(ns).withName(job + "-trainer").get()));
        m.put("Role", uid(client.rbac().roles().inNamespace(ns).withName(job + "-trainer").get()));
        m.put(
                "ServiceAccount",
                uid(client.serviceAccounts().inNamespace(ns).withName(job + "-trainer").get()));
        return m;
    }

    private static String uid(io.fabric8.kubernetes.api.model.HasMetadata o) {
        return o == null ? null : o.getMetadata().getUid();
    }

    @Test
    void aTemplateChangeOfARunningJobRestartsTheGangWithAnEventAndCountsNothing() {
        // Issue 12 item 7: a new image waited silently for the next restart.
        create(OperatorHarness.job(ns, "llm", 2));
        awaitGang(client, ns, "llm", 1, 2);
        awaitPhase("llm", "Running");
        report(client, ns, "llm", 30, 1, "t1");
        await().atMost(TIMEOUT)
                .until(() -> get(client, ns, "llm").getStatus().getLatestCheckpoint() != null);
        client.resources(TrainingJob.class)
                .inNamespace(ns)
                .withName("llm")
                .edit(
                        j -> {
                            j.getSpec()
                                    .getTemplate()
                                    .getSpec()
                                    .getContainers()
                                    .get(0)
                                    .setImage("phoenix/trainer:0.2.0");
                            return j;
                        });
        List<Pod> gang = awaitGang(client, ns, "llm", 2, 2);
        assertThat(gang)
                .allSatisfy(
                        p -> {
                            assertThat(p.getSpec().getContainers().get(0).getImage())
                                    .isEqualTo("phoenix/trainer:0.2.0");
                            assertThat(env(p)).containsEntry("PHOENIX_RESUME_STEP", "30");
                        });
        await().atMost(TIMEOUT)
                .until(
                        () ->
                                events("llm").stream()
                                        .anyMatch(e -> e.getReason().equals("SpecChanged")));
        TrainingJob job = get(client, ns, "llm");
        assertThat(job.getStatus().getPreemptions()).isZero();
        assertThat(job.getStatus().getFailures()).isZero();
    }

    @Test
    void workersTheSchedulerCannotPlaceSurfaceWithItsReasonAndTheJobIsNotRunning() {
        // Issue 12 item 7: pods that could not start left the job Running/AllWorkersRunning.
        TrainingJob job = OperatorHarness.job(ns, "llm", 2);
        job.getSpec()
                .getTemplate()
                .getSpec()
                .getContainers()
                .get(0)
                .setResources(
                        new io.fabric8.kubernetes.api.model.ResourceRequirementsBuilder()
                                .addToLimits(
                                        "example.com/accelerator",
                                        new io.fabric8.kubernetes.api.model.Quantity("1"))
                                .build());
        create(job);
        await().atMost(TIMEOUT)
                .untilAsserted(
                        () -> {
                            var running =
                                    get(client, ns, "llm").getStatus().getConditions().stream()
                                            .filter(c -> c.getType().equals("Running"))
                                            .findFirst()
                                            .orElseThrow();
                            assertThat(running.getStatus()).isEqualTo("False");
                            assertThat(running.getReason()).isEqualTo("Unschedulable");
                            assertThat(running.getMessage())
                                    .contains("llm-worker-")
                                    .contains("example.com/accelerator");
                        });
        assertThat(get(client, ns, "llm").getStatus().getPhase().name()).isEqualTo("Pending");
        awaitEvents("llm", "WorkerNotStarting");
    }

    @Test
    void aForgedReportOfAFutureAttemptIsRejectedThenRemovedAndTheNextRealReportCounts() {
        // Found by ChaosIT's report tampering: the trainer leaves a newer attempt's report alone,
        // so a forged one silenced it.
        create(OperatorHarness.job(ns, "llm", 1));
        awaitGang(client, ns, "llm", 1, 1);
        awaitPhase("llm", "Running");
        report(client, ns, "llm", 30, 7, "t1");
        await().atMost(TIMEOUT)
                .until(
                        () ->
                                client.configMaps()
                                                .inNamespace(ns)
                                                .withName("llm-report")
                                                .get()
                                                .getData()
                                                .get("checkpoint")
                                        == null);
        awaitEvents("llm", "ReportRejected", "ReportCleared");
        assertThat(get(client, ns, "llm").getStatus().getLatestCheckpoint())
                .as("never believed")
                .isNull();
        report(client, ns, "llm", 30, 1, "t1");
        await().atMost(TIMEOUT)
                .until(() -> get(client, ns, "llm").getStatus().getLatestCheckpoint() != null);
        assertThat(get(client, ns, "llm").getStatus().getLatestCheckpoint().getStep())
                .isEqualTo(30);
    }

    @Test
    void metricsAndHealthEndpointsServe() throws Exception {
        HttpClient http = HttpClient.newHttpClient();
        String base = "http://127.0.0.1:" + operator.httpPort();
        assertThat(
                        http.send(
                                        HttpRequest.newBuilder(URI.create(base + "/healthz"))
                                                .build(),
                                        HttpResponse.BodyHandlers.ofString())
                                .statusCode())
                .isEqualTo(200);
        assertThat(
                        http.send(
                                        HttpRequest.newBuilder(URI.create(base + "/readyz"))
                                                .build(),
                                        HttpResponse.BodyHandlers.ofString())
                                .statusCode())
                .isEqualTo(200);
        create(OperatorHarness.job(ns, "m", 1));
        awaitGang(client, ns, "m", 1, 1);
        awaitPhase("m", "Running");
        client.pods().inNamespace(ns).withName("m-worker-0").delete();
        awaitGang(client, ns, "m", 2, 1);
        String metrics =
                http.send(
                                HttpRequest.newBuilder(URI.create(base + "/metrics")).build(),
                                HttpResponse.BodyHandlers.ofString())
                        .body();
        assertThat(metrics)
                .contains("phoenix_recovery_latency_seconds")
                .contains("phoenix_recoveries_total")
                .contains("phoenix_attempt_endings_total{reason=\"Preemption\"}");
    }

    @Test
    void deletingTheJobDeletesEverythingItOwnsThroughOwnerReferences() {
        create(OperatorHarness.job(ns, "llm", 1));
        List<Pod> gang = awaitGang(client, ns, "llm", 1, 1);
        String uid = get(client, ns, "llm").getMetadata().getUid();
        assertThat(gang.get(0).getMetadata().getOwnerReferences().get(0).getUid()).isEqualTo(uid);
        assertThat(
                        client.configMaps()
                                .inNamespace(ns)
                                .withName("llm-report")
                                .get()
                                .getMetadata()
                                .getOwnerReferences()
                                .get(0)
                                .getUid())
                .isEqualTo(uid);
        assertThat(
                        client.rbac()
                                .roles()
                                .inNamespace(ns)
                                .withName("llm-trainer")
                                .get()
                                .getMetadata()
                                .getOwnerReferences()
                                .get(0)
                                .getUid())
                .isEqualTo(uid);
        client.resources(TrainingJob.class).inNamespace(ns).withName("llm").delete();
        // The controller manager's garbage collector follows the owner references.
        await().atMost(TIMEOUT)
                .until(
                        () ->
                                pods(client, ns, "llm").isEmpty()
                                        && client.configMaps()
                                                        .inNamespace(ns)
                                                        .withName("llm-report")
                                                        .get()
                                                == null
                                        && client.rbac()
                                                        .roles()
                                                        .inNamespace(ns)
                                                        .withName("llm-trainer")
                                                        .get()
                                                == null
                                        && client.services().inNamespace(ns).withName("llm").get()
                                                == null);
    }

    private static final String HOLD = "phoenix.dev/test-hold";

    private void hold(Pod pod, boolean on) {
        client.pods()
                .inNamespace(ns)
                .withName(pod.getMetadata().getName())
                .edit(
                        x -> {
                            List<String> f =
                                    new java.util.ArrayList<>(
                                            x.getMetadata().getFinalizers() == null
                                                    ? List.of()
                                                    : x.getMetadata().getFinalizers());
                            f.remove(HOLD);
                            if (on) {
                                f.add(HOLD);
                            }
                            x.getMetadata().setFinalizers(f);
                            return x;
                        });
    }

    /** Events are written in the background (EventRecorder): they arrive within seconds. */
    private void awaitEvents(String job, String... reasons) {
        await().atMost(TIMEOUT)
                .untilAsserted(
                        () ->
                                assertThat(events(job))
                                        .extracting(Event::getReason)
                                        .contains(reasons));
    }

    private List<Event> events(String job) {
        return client.v1().events().inNamespace(ns).list().getItems().stream()
                .filter(e -> job.equals(e.getInvolvedObject().getName()))
                .toList();
    }
}
