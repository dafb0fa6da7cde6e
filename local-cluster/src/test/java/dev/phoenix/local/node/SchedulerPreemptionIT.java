package dev.phoenix.local.node;

import dev.phoenix.local.controlplane.junit.TestNamespace;
import dev.phoenix.local.controlplane.junit.WithControlPlane;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.scheduling.v1.PriorityClassBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import static dev.phoenix.local.node.NodeTestSupport.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** The real kube-scheduler preempts a low-priority pod holding the node's only GPU. */
@WithControlPlane
class SchedulerPreemptionIT {

    private static final String NODE = "ln-gpu";

    private static Pod gpuPod(String name, String priorityClass, Path dir) {
        return new PodBuilder().withNewMetadata().withName(name).endMetadata()
                .withNewSpec().withRestartPolicy("Never").withTerminationGracePeriodSeconds(10L).withAutomountServiceAccountToken(false)
                .withPriorityClassName(priorityClass).addToNodeSelector("kubernetes.io/hostname", NODE)
                .addNewContainer().withName("main").withImage("local/sh")
                .withCommand("sh", "-c", "trap 'echo TERM > /out/term; exit 143' TERM; echo \"$CUDA_VISIBLE_DEVICES\" > /out/gpus; echo up > /out/started; while true; do sleep 0.1; done")
                .withNewResources().addToLimits("nvidia.com/gpu", new Quantity("1")).endResources()
                .addNewVolumeMount().withName("out").withMountPath("/out").endVolumeMount().endContainer()
                .addNewVolume().withName("out").withNewHostPath().withPath(dir.toString()).withType("DirectoryOrCreate").endHostPath().endVolume()
                .endSpec().build();
    }

    @Test
    void highPriorityPodPreemptsTheLowOne(KubernetesClient client, TestNamespace ns) throws Exception {
        Path work = Files.createTempDirectory("local-node-preempt");
        String low = "low-" + ns.name();
        String high = "high-" + ns.name();
        client.resource(new PriorityClassBuilder().withNewMetadata().withName(low).endMetadata().withValue(100).build()).create();
        client.resource(new PriorityClassBuilder().withNewMetadata().withName(high).endMetadata().withValue(1000).build()).create();
        try (LocalNode node = LocalNode.builder().client(client).name(NODE).gpus(1).workDir(work).deleteNodeOnClose(true).start()) {
            Path lowDir = work.resolve("low-out");
            Path highDir = work.resolve("high-out");
            create(client, ns.name(), gpuPod("low", low, lowDir));
            Pod running = awaitRunning(client, ns.name(), "low", lowDir.resolve("started"));
            assertThat(running.getSpec().getNodeName()).isEqualTo(NODE);
            try (Recorder rec = new Recorder(client, ns.name(), "low")) {
                create(client, ns.name(), gpuPod("high", high, highDir));
                awaitGone(client, ns.name(), "low");
                await().atMost(Duration.ofSeconds(5)).until(() -> rec.deleted);
                assertThat(rec.versions).anyMatch(p -> p.getMetadata().getDeletionTimestamp() != null);
                assertThat(rec.lastTerminated("main").getState().getTerminated().getExitCode()).isEqualTo(143);
            }
            assertThat(lowDir.resolve("term")).hasContent("TERM");
            Pod highRunning = awaitRunning(client, ns.name(), "high", highDir.resolve("started"));
            assertThat(highRunning.getSpec().getNodeName()).isEqualTo(NODE);
            // the device plugin's part: each got the node's one GPU, the victim's released on its removal
            assertThat(lowDir.resolve("gpus")).hasContent("0");
            assertThat(highDir.resolve("gpus")).hasContent("0");
            client.pods().inNamespace(ns.name()).withName("high").delete();
            awaitGone(client, ns.name(), "high");
        } finally {
            client.resource(new PriorityClassBuilder().withNewMetadata().withName(low).endMetadata().withValue(100).build()).delete();
            client.resource(new PriorityClassBuilder().withNewMetadata().withName(high).endMetadata().withValue(1000).build()).delete();
        }
    }
}
