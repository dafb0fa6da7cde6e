package dev.phoenix.e2e.realnode;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.phoenix.e2e.Repo;
import dev.phoenix.local.controlplane.ControlPlane;
import dev.phoenix.local.controlplane.junit.ControlPlaneExtension;
import dev.phoenix.local.realnode.RealNode;
import io.fabric8.kubernetes.api.model.ContainerStateTerminated;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What Phoenix relies on from the kubelet, shown with the real trainer image (Jib, -Pimages) in a
 * real pod on a real node (kubelet 1.37 + containerd), non-root and with a read-only root
 * filesystem:
 *
 * <ul>
 *   <li>the termination message the trainer writes is read back from the pod's status;
 *   <li>a graceful delete delivers SIGTERM and honours the grace period: the trainer writes its
 *       emergency checkpoint during it;
 *   <li>the downward-API pod name reaches the container's env ({@code PHOENIX_POD_NAME});
 *   <li>{@code $(VAR)} in args is expanded by the kubelet;
 *   <li>the hostPath checkpoint volume outlives the pod.
 * </ul>
 */
@ExtendWith(ControlPlaneExtension.class)
class KubeletBehaviourIT {
    private static final Logger LOG = LoggerFactory.getLogger(KubeletBehaviourIT.class);
    private static final String IMAGE = "phoenix/trainer:0.1.0";
    private static RealNode node;

    @BeforeAll
    static void node(ControlPlane cp) throws IOException {
        Path trainer = Repo.root().resolve("trainer-image/target/jib-image.tar");
        if (!Files.isRegularFile(trainer)) {
            throw new IllegalStateException(
                    "no trainer image at "
                            + trainer
                            + ": build with "
                            + "`mvn -Pimages -pl trainer-image -am package -DskipTests`");
        }
        node = RealNode.builder().controlPlane(cp).name("kb-node").image(trainer).start();
        LOG.info("node {} started in {} ms", node.name(), node.startTime().toMillis());
        assertThat(node.startTime()).isPositive();
    }

    @AfterAll
    static void stop() {
        if (node != null) {
            node.close();
        }
    }

    @Test
    void terminationMessageEnvExpansionAndHostPathOutliveThePod(
            ControlPlane cp, KubernetesClient admin) throws Exception {
        String ns = cp.createNamespace("kubelet");
        Path checkpoints = hostDir("kb-ok");
        // $(STEPS) in args: only the kubelet's expansion makes "--steps=$(STEPS)" a number picocli
        // accepts.
        admin.pods()
                .inNamespace(ns)
                .resource(
                        trainerPod(
                                "ok",
                                checkpoints,
                                "12",
                                0,
                                30,
                                "--steps=$(STEPS)",
                                "--checkpoint-interval=4"))
                .create();
        Pod done =
                admin.pods()
                        .inNamespace(ns)
                        .withName("ok")
                        .waitUntilCondition(
                                p ->
                                        p.getStatus() != null
                                                && "Succeeded".equals(p.getStatus().getPhase()),
                                4,
                                TimeUnit.MINUTES);

        ContainerStateTerminated t =
                done.getStatus().getContainerStatuses().get(0).getState().getTerminated();
        assertThat(t.getExitCode()).isZero();
        assertThat(t.getMessage())
                .as("termination message from the pod's status")
                .contains("\"result\":\"Succeeded\"")
                .contains("\"step\":12")
                .contains("\"stateDigest\":\"sha256:");
        String log = admin.pods().inNamespace(ns).withName("ok").getLog();
        assertThat(log)
                .as("downward-API PHOENIX_POD_NAME in the trainer's log")
                .contains("pod ok ");

        admin.pods().inNamespace(ns).withName("ok").withGracePeriod(0).delete();
        await().atMost(Duration.ofMinutes(1))
                .until(() -> admin.pods().inNamespace(ns).withName("ok").get() == null);
        assertThat(steps(checkpoints))
                .as("checkpoints on the hostPath after the pod is gone")
                .contains("step-0000000004", "step-0000000008", "step-0000000012");
    }

    @Test
    void gracefulDeleteDeliversSigtermAndTheGracePeriodCoversTheEmergencyCheckpoint(
            ControlPlane cp, KubernetesClient admin) throws Exception {
        String ns = cp.createNamespace("kubelet-grace");
        Path checkpoints = hostDir("kb-grace");
        // interval 0: the only checkpoint the trainer ever writes before its end is the emergency
        // one after SIGTERM
        admin.pods()
                .inNamespace(ns)
                .resource(
                        trainerPod(
                                "grace",
                                checkpoints,
                                "100000",
                                200,
                                30,
                                "--steps=$(STEPS)",
                                "--checkpoint-interval=0"))
                .create();
        admin.pods()
                .inNamespace(ns)
                .withName("grace")
                .waitUntilCondition(
                        p -> p.getStatus() != null && "Running".equals(p.getStatus().getPhase()),
                        3,
                        TimeUnit.MINUTES);
        await().atMost(Duration.ofMinutes(2))
                .pollInterval(Duration.ofSeconds(1))
                .until(
                        () ->
                                admin.pods()
                                        .inNamespace(ns)
                                        .withName("grace")
                                        .getLog()
                                        .contains("/100000 loss"));
        assertThat(steps(checkpoints)).isEmpty();

        admin.pods().inNamespace(ns).withName("grace").delete(); // the pod's own grace period: 30 s
        await().atMost(Duration.ofMinutes(2))
                .until(() -> admin.pods().inNamespace(ns).withName("grace").get() == null);
        List<String> written = steps(checkpoints);
        assertThat(written)
                .as("the emergency checkpoint written during the grace period")
                .hasSize(1);
        try (Stream<Path> files = Files.list(checkpoints.resolve(written.get(0)))) {
            assertThat(files.count()).as("files in " + written.get(0)).isPositive();
        }
    }

    /**
     * The trainer as Phoenix runs it, minus the operator: non-root, read-only root filesystem, the
     * JavaCPP cache and /tmp on emptyDirs, checkpoints on a hostPath, PHOENIX_POD_NAME from the
     * downward API.
     */
    private static Pod trainerPod(
            String name,
            Path checkpoints,
            String steps,
            int stepSleepMs,
            long grace,
            String... args) {
        List<String> all =
                new java.util.ArrayList<>(
                        List.of(
                                "--input=8",
                                "--hidden=16",
                                "--layers=1",
                                "--batch=8",
                                "--checkpoint-dir=/checkpoints",
                                "--step-sleep-ms=" + stepSleepMs,
                                "--grace-seconds=" + grace));
        all.addAll(List.of(args));
        return new PodBuilder()
                .withNewMetadata()
                .withName(name)
                .endMetadata()
                .withNewSpec()
                .withRestartPolicy("Never")
                .withNodeName(node.name())
                .withTerminationGracePeriodSeconds(grace)
                .withNewSecurityContext()
                .withRunAsNonRoot(true)
                .withRunAsUser(65532L)
                .withRunAsGroup(65532L)
                .endSecurityContext()
                .addNewContainer()
                .withName("trainer")
                .withImage(IMAGE)
                .withImagePullPolicy("Never")
                .withArgs(all)
                .addNewEnv()
                .withName("PHOENIX_POD_NAME")
                .withNewValueFrom()
                .withNewFieldRef()
                .withFieldPath("metadata.name")
                .endFieldRef()
                .endValueFrom()
                .endEnv()
                .addNewEnv()
                .withName("STEPS")
                .withValue(steps)
                .endEnv()
                .withNewSecurityContext()
                .withReadOnlyRootFilesystem(true)
                .withAllowPrivilegeEscalation(false)
                .endSecurityContext()
                .addNewVolumeMount()
                .withName("checkpoints")
                .withMountPath("/checkpoints")
                .endVolumeMount()
                .addNewVolumeMount()
                .withName("javacpp")
                .withMountPath("/var/cache/javacpp")
                .endVolumeMount()
                .addNewVolumeMount()
                .withName("tmp")
                .withMountPath("/tmp")
                .endVolumeMount()
                .endContainer()
                .addNewVolume()
                .withName("checkpoints")
                .withNewHostPath()
                .withPath(checkpoints.toString())
                .withType("Directory")
                .endHostPath()
                .endVolume()
                .addNewVolume()
                .withName("javacpp")
                .withNewEmptyDir()
                .endEmptyDir()
                .endVolume()
                .addNewVolume()
                .withName("tmp")
                .withNewEmptyDir()
                .endEmptyDir()
                .endVolume()
                .endSpec()
                .build();
    }

    private static Path hostDir(String name) throws IOException {
        Path d = Files.createTempDirectory(name + "-");
        Files.setPosixFilePermissions(
                d, PosixFilePermissions.fromString("rwxrwxrwx")); // the trainer runs as 65532
        return d;
    }

    private static List<String> steps(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString())
                    .filter(n -> n.matches("step-\\d+"))
                    .sorted()
                    .toList();
        }
    }
}
