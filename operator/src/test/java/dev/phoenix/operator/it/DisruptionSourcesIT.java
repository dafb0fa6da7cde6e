package dev.phoenix.operator.it;

import static dev.phoenix.operator.it.OperatorHarness.TIMEOUT;
import static dev.phoenix.operator.it.OperatorHarness.awaitGang;
import static dev.phoenix.operator.it.OperatorHarness.env;
import static dev.phoenix.operator.it.OperatorHarness.get;
import static dev.phoenix.operator.it.OperatorHarness.phase;
import static dev.phoenix.operator.it.OperatorHarness.report;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.phoenix.api.v1alpha1.TrainingJob;
import dev.phoenix.local.controlplane.ControlPlane;
import dev.phoenix.local.controlplane.junit.TestNamespace;
import dev.phoenix.local.controlplane.junit.WithControlPlane;
import dev.phoenix.local.disruption.ClusterDisruptions;
import dev.phoenix.local.disruption.PodWatchLog;
import dev.phoenix.local.kwok.Kwok;
import dev.phoenix.operator.PhoenixOperator;
import dev.phoenix.operator.config.OperatorConfig;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodCondition;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * One test per real source of preemption: the component that writes {@code DisruptionTarget} on a
 * cluster writes it here too, and Phoenix restarts the gang from its latest checkpoint, counting a
 * preemption and no failure. Each test asserts the condition's reason and message as the component
 * writes them, and that its field manager (the identity the API server recorded for the write) is
 * that component, not this test's client: the test only asks (creates a pod, taints or deletes a
 * node).
 *
 * <p>Nodes and pods are simulated by KWOK. The operator runs with node watching off, so that a
 * deleted node reaches it only through PodGC, the component under test.
 */
@WithControlPlane(defaultTolerationSeconds = 2)
class DisruptionSourcesIT {
    private static final String GPU = "nvidia.com/gpu";

    private static ControlPlane cp;
    private static KubernetesClient client;
    private static Kwok kwok;
    private static PhoenixOperator operator;
    private static ClusterDisruptions disruptions;
    private String ns;
    private String node;
    private PodWatchLog log;

    @BeforeAll
    static void start(ControlPlane controlPlane, KubernetesClient admin) throws Exception {
        cp = controlPlane;
        client = admin;
        OperatorHarness.installCrd(client);
        kwok = Kwok.start(cp);
        disruptions = new ClusterDisruptions(client);
        operator =
                PhoenixOperator.start(
                        client,
                        new OperatorConfig()
                                .withLeaderElection(false)
                                .withHttpPort(0)
                                .withWatchNodes(false));
    }

    @AfterAll
    static void stop() {
        if (operator != null) {
            operator.close();
        }
        if (kwok != null) {
            kwok.close();
        }
    }

    @BeforeEach
    void setUp(TestNamespace namespace) {
        ns = namespace.name();
        // One node per test, with room for exactly one 2-GPU gang, so that every disruption hits
        // this test's pods only and a preemptor must take a worker's GPU.
        node = "kwok-" + ns;
        kwok.addNode(node, Map.of(GPU, "2"), Map.of());
        log = new PodWatchLog(client, ns);
    }

    @AfterEach
    void tearDown() {
        log.close();
        if (kwok.isRunning()) {
            client.nodes().withName(node).delete();
        }
    }

    @Test
    void preemptionByTheScheduler() {
        Pod[] preemptor = new Pod[1];
        Pod victim =
                disruptAndRecover(
                        v -> preemptor[0] = disruptions.preemptByScheduler(v, GPU, "2"),
                        "PreemptionByScheduler",
                        "default-scheduler: preempting to accommodate a higher priority pod",
                        "kube-scheduler",
                        () -> disruptions.removePreemptor(preemptor[0]));
        assertThat(victim.getSpec().getNodeName()).isEqualTo(node);
    }

    @Test
    void evictionThroughTheEvictionApi() {
        // The API server writes the condition inside the eviction request, so its field manager is
        // the
        // client that asked: the message is the API server's own, and the test writes no pod
        // status.
        disruptAndRecover(
                v -> assertThat(disruptions.evict(v)).isTrue(),
                "EvictionByEvictionAPI",
                "Eviction API: evicting",
                null,
                () -> {});
    }

    @Test
    void noExecuteTaintOfTheNode() {
        disruptAndRecover(
                v -> disruptions.taintNoExecute(node),
                "DeletionByTaintManager",
                "Taint manager: deleting due to NoExecute taint",
                "kube-controller-manager",
                () -> disruptions.untaint(node));
    }

    @Test
    void deletedNodeCollectedByPodGc() {
        String spare = node + "-spare";
        disruptAndRecover(
                v -> {
                    // The replacement gang needs somewhere to go once its node is gone.
                    kwok.addNode(spare, Map.of(GPU, "2"), Map.of());
                    disruptions.deleteNode(node);
                },
                "DeletionByPodGC",
                "PodGC: node no longer exists",
                "kube-controller-manager",
                () -> {});
        client.nodes().withName(spare).delete();
    }

    // A node that stops heart-beating is e2e's NodeHeartbeatLossIT, on real nodes: with KWOK every
    // simulated
    // node stops at once, the node-lifecycle controller sees its whole zone unhealthy and, assuming
    // its own
    // network failed (full-disruption mode), evicts nothing.
    /**
     * Starts a 2-worker gang on this test's node, reports a checkpoint, disrupts worker 1, checks
     * the condition the component wrote on the first gang pod it reached, undoes what blocks the
     * replacement gang, and checks the recovery. Returns that pod as last seen.
     */
    private Pod disruptAndRecover(
            Consumer<Pod> disrupt,
            String reason,
            String message,
            String writer,
            Runnable afterCondition) {
        TrainingJob job = OperatorHarness.job(ns, "llm", 2);
        var podSpec = job.getSpec().getTemplate().getSpec();
        podSpec.getContainers()
                .get(0)
                .setResources(
                        new io.fabric8.kubernetes.api.model.ResourceRequirementsBuilder()
                                .addToRequests(GPU, new Quantity("1"))
                                .addToLimits(GPU, new Quantity("1"))
                                .build());
        client.resource(job).create();
        List<Pod> gang = awaitGang(client, ns, "llm", 1, 2);
        await().atMost(TIMEOUT).until(() -> "Running".equals(phase(client, ns, "llm").orElse("")));
        report(client, ns, "llm", 40, 1, "t1");
        await().atMost(TIMEOUT)
                .until(() -> get(client, ns, "llm").getStatus().getLatestCheckpoint() != null);

        Pod victim =
                client.pods()
                        .inNamespace(ns)
                        .withName(gang.get(1).getMetadata().getName())
                        .require();
        disrupt.accept(victim);

        // The scheduler, the taint manager and PodGC disrupt every pod of the gang on the node, in
        // their own order: once the first condition reaches Phoenix it deletes the rest of the gang
        // itself, so the pod that carries the component's condition is whichever it reached first,
        // not necessarily the victim. PodGC waits out a 40 s quarantine and runs every 20 s; the
        // rest take seconds.
        List<String> uids = gang.stream().map(p -> p.getMetadata().getUid()).toList();
        String uid =
                await().atMost(Duration.ofSeconds(150))
                        .until(
                                () ->
                                        uids.stream()
                                                .filter(u -> log.disruptionTarget(u).isPresent())
                                                .findFirst(),
                                Optional::isPresent)
                        .orElseThrow();
        PodCondition condition = log.disruptionTarget(uid).orElseThrow();
        assertThat(condition.getStatus()).isEqualTo("True");
        assertThat(condition.getReason()).isEqualTo(reason);
        assertThat(condition.getMessage()).isEqualTo(message);
        if (writer != null) {
            assertThat(log.disruptionTargetWriter(uid))
                    .as("field manager of the DisruptionTarget condition")
                    .contains(writer);
        }
        afterCondition.run();

        List<Pod> next = awaitGang(client, ns, "llm", 2, 2);
        assertThat(next)
                .allSatisfy(
                        p ->
                                assertThat(env(p))
                                        .containsEntry("PHOENIX_RESUME_STEP", "40")
                                        .containsEntry("PHOENIX_ATTEMPT", "2"));
        await().atMost(TIMEOUT).until(() -> "Running".equals(phase(client, ns, "llm").orElse("")));
        TrainingJob after = get(client, ns, "llm");
        assertThat(after.getStatus().getPreemptions()).isEqualTo(1);
        assertThat(after.getStatus().getFailures()).isZero();
        await().atMost(TIMEOUT)
                .until(
                        () ->
                                client.v1().events().inNamespace(ns).list().getItems().stream()
                                        .anyMatch(
                                                e ->
                                                        "Preempted".equals(e.getReason())
                                                                && e.getMessage()
                                                                        .contains(reason)));
        return log.lastSeen(uid).orElseThrow();
    }
}
