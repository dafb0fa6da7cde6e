package dev.phoenix.local.kwok;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.phoenix.local.controlplane.ControlPlane;
import dev.phoenix.local.controlplane.junit.TestNamespace;
import dev.phoenix.local.controlplane.junit.WithControlPlane;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The KWOK stages Phoenix's simulated pods rely on, against the real scheduler. */
@WithControlPlane
class KwokIT {
    private static final Duration TIMEOUT = Duration.ofSeconds(60);
    private static Kwok kwok;
    private static Node node;

    @BeforeAll
    static void start(ControlPlane cp) {
        kwok = Kwok.start(cp);
        node = kwok.addNode("kwok-it", Map.of("nvidia.com/gpu", "4"), Map.of("pool", "spot"));
    }

    @AfterAll
    static void stop() {
        kwok.close();
    }

    private static Pod pod(String name) {
        return new PodBuilder()
                .withNewMetadata()
                .withName(name)
                .endMetadata()
                .withNewSpec()
                .withRestartPolicy("Never")
                .withTerminationGracePeriodSeconds(30L)
                .addNewContainer()
                .withName("main")
                .withImage("phoenix/none:0")
                .endContainer()
                .endSpec()
                .build();
    }

    private static Pod awaitPhase(KubernetesClient c, String ns, String name, String phase) {
        await().atMost(TIMEOUT)
                .until(
                        () -> {
                            Pod p = c.pods().inNamespace(ns).withName(name).get();
                            return p != null
                                    && p.getStatus() != null
                                    && phase.equals(p.getStatus().getPhase());
                        });
        return c.pods().inNamespace(ns).withName(name).get();
    }

    @Test
    void theNodeIsReadyWithItsCapacityAndLabels() {
        assertThat(node.getStatus().getCapacity()).containsKey("nvidia.com/gpu");
        assertThat(node.getStatus().getCapacity().get("nvidia.com/gpu").getAmount()).isEqualTo("4");
        assertThat(node.getMetadata().getLabels())
                .containsEntry("pool", "spot")
                .containsEntry("kubernetes.io/hostname", "kwok-it");
    }

    @Test
    void aPodIsScheduledByTheSchedulerThenRuns(KubernetesClient c, TestNamespace ns) {
        c.pods().inNamespace(ns.name()).resource(pod("p")).create();
        Pod p = awaitPhase(c, ns.name(), "p", "Running");
        assertThat(p.getSpec().getNodeName()).isEqualTo("kwok-it");
        assertThat(p.getStatus().getPodIP()).isNotBlank();
        assertThat(p.getStatus().getContainerStatuses())
                .singleElement()
                .satisfies(s -> assertThat(s.getState().getRunning()).isNotNull());
    }

    @Test
    void anExitCodeEndsThePodLikeAProcessThatExited(KubernetesClient c, TestNamespace ns) {
        c.pods().inNamespace(ns.name()).resource(pod("fail")).create();
        c.pods().inNamespace(ns.name()).resource(pod("ok")).create();
        kwok.exit(
                awaitPhase(c, ns.name(), "fail", "Running"),
                65,
                "{\"result\":\"CheckpointInvalid\",\"step\":20}");
        kwok.exit(awaitPhase(c, ns.name(), "ok", "Running"), 0, "");
        Pod failed = awaitPhase(c, ns.name(), "fail", "Failed");
        var terminated =
                failed.getStatus().getContainerStatuses().get(0).getState().getTerminated();
        assertThat(terminated.getExitCode()).isEqualTo(65);
        assertThat(terminated.getReason()).isEqualTo("Error");
        assertThat(terminated.getMessage())
                .isEqualTo("{\"result\":\"CheckpointInvalid\",\"step\":20}");
        Pod ok = awaitPhase(c, ns.name(), "ok", "Succeeded");
        assertThat(
                        ok.getStatus()
                                .getContainerStatuses()
                                .get(0)
                                .getState()
                                .getTerminated()
                                .getExitCode())
                .isZero();
    }

    @Test
    void exitTargetsThePodByUidNotByName(KubernetesClient c, TestNamespace ns) {
        c.pods().inNamespace(ns.name()).resource(pod("same")).create();
        Pod old = awaitPhase(c, ns.name(), "same", "Running");
        c.pods().inNamespace(ns.name()).withName("same").delete();
        await().atMost(TIMEOUT)
                .until(
                        () -> {
                            Pod p = c.pods().inNamespace(ns.name()).withName("same").get();
                            return p == null
                                    || !p.getMetadata().getUid().equals(old.getMetadata().getUid());
                        });
        c.pods().inNamespace(ns.name()).resource(pod("same")).create();
        awaitPhase(c, ns.name(), "same", "Running");
        assertThat(org.assertj.core.api.Assertions.catchThrowable(() -> kwok.exit(old, 1, "")))
                .as("a patch guarded by the old UID must be refused")
                .isNotNull();
        assertThat(c.pods().inNamespace(ns.name()).withName("same").get().getStatus().getPhase())
                .isEqualTo("Running");
    }

    @Test
    void aGracefulDeletionFinishesUnlessAFinalizerHoldsThePod(
            KubernetesClient c, TestNamespace ns) {
        Pod held = pod("held");
        held.getMetadata().setFinalizers(List.of("phoenix.dev/test-hold"));
        c.pods().inNamespace(ns.name()).resource(held).create();
        c.pods().inNamespace(ns.name()).resource(pod("free")).create();
        awaitPhase(c, ns.name(), "held", "Running");
        awaitPhase(c, ns.name(), "free", "Running");
        c.pods().inNamespace(ns.name()).withName("held").delete();
        c.pods().inNamespace(ns.name()).withName("free").delete();
        await().atMost(TIMEOUT)
                .until(() -> c.pods().inNamespace(ns.name()).withName("free").get() == null);
        assertThat(
                        c.pods()
                                .inNamespace(ns.name())
                                .withName("held")
                                .get()
                                .getMetadata()
                                .getDeletionTimestamp())
                .isNotNull();
        c.pods()
                .inNamespace(ns.name())
                .withName("held")
                .edit(
                        p -> {
                            p.getMetadata().setFinalizers(List.of());
                            return p;
                        });
        await().atMost(TIMEOUT)
                .until(() -> c.pods().inNamespace(ns.name()).withName("held").get() == null);
    }
}
