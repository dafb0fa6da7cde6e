package dev.phoenix.local.node;

import dev.phoenix.local.controlplane.junit.TestNamespace;
import dev.phoenix.local.controlplane.junit.WithControlPlane;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static dev.phoenix.local.node.NodeTestSupport.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

@WithControlPlane
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class DisruptionsTest {

    private static final String NODE = "ln-disrupt";
    private LocalNode node;
    private KubernetesClient client;
    private Disruptions disruptions;
    private Path workDir;

    @BeforeAll
    void startNode(KubernetesClient client) throws Exception {
        this.client = client;
        workDir = Files.createTempDirectory("local-node-disruptions");
        node = LocalNode.builder().client(client).name(NODE).workDir(workDir).deleteNodeOnClose(true).start();
        disruptions = new Disruptions(client, node);
    }

    @AfterAll
    void stopNode() {
        if (node != null) {
            node.close();
        }
    }

    /** A pod whose trap records SIGTERM into {@code <dir>/term}. */
    private Pod trapPod(String name, String nodeName, Path dir) {
        return shPod(name, nodeName, "trap 'echo TERM > /out/term; exit 143' TERM; echo up > /out/started; while true; do sleep 0.1; done")
                .editSpec().editFirstContainer().addNewVolumeMount().withName("out").withMountPath("/out").endVolumeMount().endContainer()
                .addNewVolume().withName("out").withNewHostPath().withPath(dir.toString()).withType("DirectoryOrCreate").endHostPath().endVolume()
                .endSpec().build();
    }

    @ParameterizedTest
    @ValueSource(strings = {"PreemptionByScheduler", "EvictionByEvictionAPI", "DeletionByTaintManager", "DeletionByPodGC", "TerminationByKubelet"})
    void disruptionTargetThenGracefulDeletion(String reason, TestNamespace ns) throws Exception {
        Path dir = Files.createTempDirectory(workDir, reason);
        create(client, ns.name(), trapPod("victim", NODE, dir));
        awaitRunning(client, ns.name(), "victim", dir.resolve("started"));
        try (Recorder rec = new Recorder(client, ns.name(), "victim")) {
            disruptions.disruptionTarget(ns.name(), "victim", reason);
            awaitGone(client, ns.name(), "victim");
            await().atMost(Duration.ofSeconds(5)).until(() -> rec.deleted);
            assertThat(rec.sawCondition("DisruptionTarget", reason)).isTrue();
            // the node kept the condition while it reported the final status
            assertThat(condition(rec.last(), "DisruptionTarget")).hasValueSatisfying(c -> assertThat(c.getReason()).isEqualTo(reason));
            assertThat(rec.lastTerminated("main").getState().getTerminated().getExitCode()).isEqualTo(143);
        }
        assertThat(dir.resolve("term")).hasContent("TERM");
    }

    @Test
    void cliPreempt(TestNamespace ns, dev.phoenix.local.controlplane.ControlPlane cp) throws Exception {
        Path dir = Files.createTempDirectory(workDir, "cli");
        create(client, ns.name(), trapPod("cli-victim", NODE, dir));
        awaitRunning(client, ns.name(), "cli-victim", dir.resolve("started"));
        try (Recorder rec = new Recorder(client, ns.name(), "cli-victim")) {
            int rc = new picocli.CommandLine(new LocalNodeMain()).execute("preempt", "--kubeconfig", cp.kubeconfigPath().toString(),
                    "-n", ns.name(), "cli-victim", "--reason", "PreemptionByScheduler");
            assertThat(rc).isZero();
            awaitGone(client, ns.name(), "cli-victim");
            await().atMost(Duration.ofSeconds(5)).until(() -> rec.deleted);
            assertThat(rec.sawCondition("DisruptionTarget", "PreemptionByScheduler")).isTrue();
        }
        assertThat(dir.resolve("term")).hasContent("TERM");
    }

    @Test
    void evictionApi(TestNamespace ns) throws Exception {
        Path dir = Files.createTempDirectory(workDir, "evict");
        create(client, ns.name(), trapPod("evictee", NODE, dir));
        awaitRunning(client, ns.name(), "evictee", dir.resolve("started"));
        try (Recorder rec = new Recorder(client, ns.name(), "evictee")) {
            assertThat(disruptions.evict(ns.name(), "evictee")).isTrue();
            awaitGone(client, ns.name(), "evictee");
            await().atMost(Duration.ofSeconds(5)).until(() -> rec.deleted);
            assertThat(rec.lastTerminated("main").getState().getTerminated().getExitCode()).isEqualTo(143);
        }
        assertThat(dir.resolve("term")).hasContent("TERM");
    }

    @Test
    void killIsAnApplicationFailureNotAPreemption(TestNamespace ns) throws Exception {
        Path dir = Files.createTempDirectory(workDir, "kill");
        create(client, ns.name(), trapPod("crash", NODE, dir));
        awaitRunning(client, ns.name(), "crash", dir.resolve("started"));
        disruptions.kill(ns.name(), "crash", "main");
        Pod p = awaitPhase(client, ns.name(), "crash", "Failed");
        var t = status(p, "main").getState().getTerminated();
        assertThat(t.getExitCode()).isEqualTo(137);
        assertThat(t.getReason()).isEqualTo("Error");
        assertThat(condition(p, "DisruptionTarget")).isEmpty();
        assertThat(p.getMetadata().getDeletionTimestamp()).isNull();
        assertThat(dir.resolve("term")).doesNotExist();
    }

    @Test
    void nodeLossKillsEverythingAndThePodsVanish(TestNamespace ns) throws Exception {
        Path dir = Files.createTempDirectory(workDir, "lost");
        try (LocalNode doomed = LocalNode.builder().client(client).name("ln-doomed").workDir(workDir.resolve("doomed")).start()) {
            create(client, ns.name(), trapPod("on-lost-node", "ln-doomed", dir));
            awaitRunning(client, ns.name(), "on-lost-node", dir.resolve("started"));
            List<Process> procs = doomed.worker(ns.name(), "on-lost-node").processes();
            assertThat(procs).isNotEmpty();
            List<ProcessHandle> tree = procs.stream().flatMap(p -> java.util.stream.Stream.concat(java.util.stream.Stream.of(p.toHandle()), p.descendants())).toList();
            new Disruptions(client, doomed).nodeLoss(doomed);
            await().atMost(Duration.ofSeconds(10)).until(() -> tree.stream().noneMatch(ProcessHandle::isAlive));
            assertThat(client.nodes().withName("ln-doomed").get()).isNull();
            awaitGone(client, ns.name(), "on-lost-node");
            assertThat(dir.resolve("term")).doesNotExist(); // SIGKILL, no SIGTERM
        }
    }

    @Test
    void gracefulNodeShutdown(TestNamespace ns) throws Exception {
        Path dir = Files.createTempDirectory(workDir, "shutdown");
        try (LocalNode n = LocalNode.builder().client(client).name("ln-shutdown").workDir(workDir.resolve("shutdown")).deleteNodeOnClose(true).start()) {
            create(client, ns.name(), trapPod("on-shutdown", "ln-shutdown", dir));
            awaitRunning(client, ns.name(), "on-shutdown", dir.resolve("started"));
            new Disruptions(client, n).nodeShutdown(n, Duration.ofSeconds(5));
            Pod p = awaitPhase(client, ns.name(), "on-shutdown", "Failed");
            assertThat(p.getStatus().getReason()).isEqualTo("Terminated");
            assertThat(p.getStatus().getMessage()).isEqualTo(Disruptions.NODE_SHUTDOWN_MESSAGE);
            assertThat(condition(p, "DisruptionTarget")).hasValueSatisfying(c -> assertThat(c.getReason()).isEqualTo("TerminationByKubelet"));
            assertThat(status(p, "main").getState().getTerminated().getExitCode()).isEqualTo(143);
            assertThat(dir.resolve("term")).hasContent("TERM");
            var ready = client.nodes().withName("ln-shutdown").get().getStatus().getConditions().stream()
                    .filter(c -> c.getType().equals("Ready")).findFirst().orElseThrow();
            assertThat(ready.getStatus()).isEqualTo("False");
            client.pods().inNamespace(ns.name()).withName("on-shutdown").withGracePeriod(0).delete();
        }
    }
}
