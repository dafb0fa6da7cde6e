package dev.phoenix.local.node;

import dev.phoenix.local.controlplane.junit.TestNamespace;
import dev.phoenix.local.controlplane.junit.WithControlPlane;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.client.KubernetesClient;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.time.Duration;

import static dev.phoenix.local.node.NodeTestSupport.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The agent's own binder (for control planes without kube-scheduler). The shared control plane runs a real
 * scheduler, so these pods name a scheduler of their own that only the binder serves.
 */
@WithControlPlane
class BinderTest {

    private static final String SCHED = "phoenix-local-binder";

    private static Pod pod(String name, String gpus, String zone) {
        return new PodBuilder().withNewMetadata().withName(name).endMetadata()
                .withNewSpec().withSchedulerName(SCHED).withRestartPolicy("Never").withAutomountServiceAccountToken(false)
                .withTerminationGracePeriodSeconds(1L).addToNodeSelector("zone", zone)
                .addNewContainer().withName("main").withImage("local/sh").withCommand("sh", "-c", "while true; do sleep 0.2; done")
                .withNewResources().addToLimits("nvidia.com/gpu", new Quantity(gpus)).endResources().endContainer()
                .endSpec().build();
    }

    @Test
    void bindsWhatFitsAndWaitsForTheRest(KubernetesClient client, TestNamespace ns) throws Exception {
        try (LocalNode node = LocalNode.builder().client(client).name("ln-binder").gpus(1).label("zone", "a")
                .bindUnscheduledPods(true).binderSchedulerName(SCHED)
                .workDir(Files.createTempDirectory("local-node-binder")).deleteNodeOnClose(true).start()) {
            create(client, ns.name(), pod("first", "1", "a"));
            Pod first = awaitPhase(client, ns.name(), "first", "Running");
            assertThat(first.getSpec().getNodeName()).isEqualTo("ln-binder");
            create(client, ns.name(), pod("second", "1", "a"));
            create(client, ns.name(), pod("elsewhere", "0", "b"));
            Thread.sleep(3000);
            assertThat(get(client, ns.name(), "second").getSpec().getNodeName()).isNull();
            assertThat(get(client, ns.name(), "elsewhere").getSpec().getNodeName()).isNull();
            client.pods().inNamespace(ns.name()).withName("first").delete();
            awaitGone(client, ns.name(), "first");
            Pod second = awaitPhase(client, ns.name(), "second", "Running");
            assertThat(second.getSpec().getNodeName()).isEqualTo("ln-binder");
            assertThat(get(client, ns.name(), "elsewhere").getSpec().getNodeName()).isNull();
            client.pods().inNamespace(ns.name()).delete();
            await().atMost(TIMEOUT).until(() -> client.pods().inNamespace(ns.name()).list().getItems().isEmpty());
        }
    }
}
