package dev.phoenix.local.realnode;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.phoenix.local.controlplane.ControlPlane;
import dev.phoenix.local.controlplane.junit.ControlPlaneExtension;
import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Real nodes (kubelet 1.37 + containerd + runc + CNI) against the real control plane with scheduler
 * and controller manager: they join, run pods that the scheduler spreads over them, serve logs and
 * exec to the API server, and leave nothing behind — after a clean stop, after {@link
 * RealNode#kill()}, and after the JVM that owned a node was SIGKILLed (the next start cleans up).
 * Needs root; only the pause image is used.
 */
@ExtendWith(ControlPlaneExtension.class)
class RealNodeIT {
    private static final Logger LOG = LoggerFactory.getLogger(RealNodeIT.class);

    private static Path PROBE;

    @BeforeAll
    static void binaries() {
        PROBE = NodeBinaries.locate().resolve("probe.oci.tar");
    }

    @Test
    void twoNodesRunPodsOnOneNetworkAndLeaveNothingBehind(
            ControlPlane cp, KubernetesClient admin, @TempDir Path tmp) throws Exception {
        Map<String, String> before = Leftovers.machineState();
        String ns = cp.createNamespace("realnode");
        Path hostDir = Files.createDirectories(tmp.resolve("host"));
        List<Path> dirs = new ArrayList<>();
        String bridge;
        String netName;
        List<String> cgroups = new ArrayList<>();
        try (PodNetwork net = PodNetwork.create(Files.createTempDirectory("phx-net-"))) {
            dirs.add(net.confDir().getParent());
            bridge = net.bridge();
            netName = net.name();
            try (RealNode a =
                            RealNode.builder()
                                    .controlPlane(cp)
                                    .name("rn-a")
                                    .network(net)
                                    .image(PROBE)
                                    .start();
                    RealNode b =
                            RealNode.builder()
                                    .controlPlane(cp)
                                    .name("rn-b")
                                    .network(net)
                                    .image(PROBE)
                                    .start()) {
                dirs.add(a.workDir());
                dirs.add(b.workDir());
                cgroups.add(a.cgroupRoot());
                cgroups.add(b.cgroupRoot());
                LOG.info(
                        "node start times: {} {} ms, {} {} ms",
                        a.name(),
                        a.startTime().toMillis(),
                        b.name(),
                        b.startTime().toMillis());
                assertThat(a.startTime()).isPositive();
                assertThat(a.images()).contains(ContainerRuntime.PAUSE_IMAGE);

                admin.configMaps()
                        .inNamespace(ns)
                        .resource(
                                new ConfigMapBuilder()
                                        .withNewMetadata()
                                        .withName("cm")
                                        .endMetadata()
                                        .addToData("k", "v")
                                        .build())
                        .create();
                admin.secrets()
                        .inNamespace(ns)
                        .resource(
                                new SecretBuilder()
                                        .withNewMetadata()
                                        .withName("s")
                                        .endMetadata()
                                        .addToStringData("k", "v")
                                        .build())
                        .create();
                for (String node : List.of("rn-a", "rn-b")) {
                    admin.pods()
                            .inNamespace(ns)
                            .resource(pausePod("p-" + node, node, hostDir))
                            .create();
                }
                for (String node : List.of("rn-a", "rn-b")) {
                    admin.pods()
                            .inNamespace(ns)
                            .withName("p-" + node)
                            .waitUntilCondition(
                                    p ->
                                            p.getStatus() != null
                                                    && "Running".equals(p.getStatus().getPhase()),
                                    2,
                                    TimeUnit.MINUTES);
                }
                Pod pa = admin.pods().inNamespace(ns).withName("p-rn-a").get();
                Pod pb = admin.pods().inNamespace(ns).withName("p-rn-b").get();
                // Both on the shared /24, distinct addresses, hostIP the bridge (where the kubelets
                // listen).
                String prefix = net.nodeIp().substring(0, net.nodeIp().lastIndexOf('.') + 1);
                assertThat(pa.getStatus().getPodIP())
                        .startsWith(prefix)
                        .isNotEqualTo(pb.getStatus().getPodIP());
                assertThat(pb.getStatus().getPodIP()).startsWith(prefix);
                assertThat(pa.getStatus().getHostIP()).isEqualTo(net.nodeIp());
                assertThat(net.allocatedAddresses())
                        .contains(pa.getStatus().getPodIP(), pb.getStatus().getPodIP());
                // host -> pod over the bridge: the pod's kernel answers (a refused connection is an
                // answer; no route
                // or no such host would be a timeout)
                assertThat(tcpAnswer(pa.getStatus().getPodIP()))
                        .as("TCP answer from " + pa.getStatus().getPodIP())
                        .isTrue();
                // the API server reaches the kubelet (its client certificate, webhook
                // authorization): logs of a container
                String log =
                        admin.pods().inNamespace(ns).withName("p-rn-b").inContainer("log").getLog();
                assertThat(log).contains("hello from p-rn-b on rn-b");
                assertThat(a.crictl("pods", "-q").lines().count()).isEqualTo(1);

                // deleting a pod tears down its sandbox: netns gone, address released
                admin.pods().inNamespace(ns).withName("p-rn-a").withGracePeriod(1).delete();
                await().atMost(Duration.ofMinutes(1))
                        .until(() -> admin.pods().inNamespace(ns).withName("p-rn-a").get() == null);
                await().atMost(Duration.ofSeconds(30))
                        .until(() -> !net.allocatedAddresses().contains(pa.getStatus().getPodIP()));
            }
            assertThat(admin.nodes().withName("rn-a").get()).isNull();
        }
        assertThat(Leftovers.of(dirs, bridge, null, netName)).isEmpty();
        for (String cg : cgroups) {
            assertThat(Leftovers.of(List.of(), null, cg, null)).isEmpty();
        }
        if (!Leftovers.otherNodesRunning(dirs)) {
            assertThat(Leftovers.machineState()).isEqualTo(before);
        }
        assertThat(Files.readString(hostDir.resolve("p-rn-a"))).isEqualTo("written by p-rn-a\n");
    }

    @Test
    void aNodeWhoseJvmWasKilledIsCleanedUpByTheNextStart(
            ControlPlane cp, KubernetesClient admin, @TempDir Path tmp) throws Exception {
        Map<String, String> before = Leftovers.machineState();
        String ns = cp.createNamespace("realnode-crash");
        Path workDir = Files.createTempDirectory("phx-node-");
        Path nodeKubeconfig = cp.nodeKubeconfig("rn-crash", tmp.resolve("rn-crash.kubeconfig"));
        List<String> cmd =
                new ArrayList<>(
                        List.of(
                                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                                "-cp",
                                System.getProperty("java.class.path"),
                                RealNodeMain.class.getName(),
                                "--name",
                                "rn-crash",
                                "--kubeconfig",
                                cp.kubeconfigPath().toString(),
                                "--node-kubeconfig",
                                nodeKubeconfig.toString(),
                                "--client-ca",
                                cp.caCertPath().toString(),
                                "--work-dir",
                                workDir.toString(),
                                "--image",
                                PROBE.toString()));
        Process jvm = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String ready = null;
        try (BufferedReader r =
                new BufferedReader(
                        new InputStreamReader(jvm.getInputStream(), StandardCharsets.UTF_8))) {
            for (String line; (line = r.readLine()) != null; ) {
                LOG.info("[rn-crash] {}", line);
                if (line.startsWith("READY ")) {
                    ready = line;
                    break;
                }
            }
            Thread drain =
                    new Thread(
                            () -> r.lines().forEach(l -> LOG.info("[rn-crash] {}", l)),
                            "rn-crash-output");
            drain.setDaemon(true);
            drain.start();
            assertThat(ready).as("the node JVM printed READY").isNotNull();
            admin.pods()
                    .inNamespace(ns)
                    .resource(
                            pausePod(
                                    "victim",
                                    "rn-crash",
                                    Files.createDirectories(tmp.resolve("h"))))
                    .create();
            admin.pods()
                    .inNamespace(ns)
                    .withName("victim")
                    .waitUntilCondition(
                            p ->
                                    p.getStatus() != null
                                            && "Running".equals(p.getStatus().getPhase()),
                            2,
                            TimeUnit.MINUTES);
            NodeRecord rec =
                    new HostRegistry(HostRegistry.DEFAULT_DIR)
                            .nodes().stream()
                                    .filter(n -> workDir.toString().equals(n.workDir()))
                                    .findFirst()
                                    .orElseThrow();
            assertThat(Mounts.under(workDir)).isNotEmpty();

            jvm.destroyForcibly(); // SIGKILL: no shutdown hook,
            // kubelet/containerd/shims/containers keep running
            jvm.waitFor(30, TimeUnit.SECONDS);
            assertThat(Leftovers.of(List.of(workDir), null, rec.cgroupRoot(), null)).isNotEmpty();

            // The next node started on this machine finds the orphaned record and cleans up first.
            try (RealNode next = RealNode.builder().controlPlane(cp).name("rn-next").start()) {
                // (the probe image is not imported here: the victim pod of the dead node never
                // comes back)
                assertThat(Leftovers.of(List.of(workDir), null, rec.cgroupRoot(), null)).isEmpty();
                assertThat(next.isRunning()).isTrue();
            }
        } finally {
            jvm.destroyForcibly();
        }
        admin.nodes().withName("rn-crash").delete();
        if (!Leftovers.otherNodesRunning(List.of(workDir))) {
            assertThat(Leftovers.machineState()).isEqualTo(before);
        }
    }

    @Test
    void killedNodeGoesNotReadyAndCloseStillCleansUp(ControlPlane cp, KubernetesClient admin)
            throws Exception {
        String ns = cp.createNamespace("realnode-kill");
        RealNode n =
                RealNode.builder()
                        .controlPlane(cp)
                        .name("rn-kill")
                        .deleteNodeOnClose(false)
                        .image(PROBE)
                        .start();
        List<Path> dirs = List.of(n.workDir());
        String cg = n.cgroupRoot();
        try {
            admin.pods()
                    .inNamespace(ns)
                    .resource(pausePod("k", "rn-kill", Files.createTempDirectory("phx-h-")))
                    .create();
            admin.pods()
                    .inNamespace(ns)
                    .withName("k")
                    .waitUntilCondition(
                            p ->
                                    p.getStatus() != null
                                            && "Running".equals(p.getStatus().getPhase()),
                            2,
                            TimeUnit.MINUTES);
            n.kill();
            assertThat(n.isRunning()).isFalse();
            assertThat(new CgroupRoot(cg).processes()).isEmpty();
        } finally {
            n.close();
        }
        assertThat(Leftovers.of(dirs, null, cg, null)).isEmpty();
        assertThat(admin.nodes().withName("rn-kill").get())
                .as("deleteNodeOnClose(false) keeps the Node")
                .isNotNull();
        admin.nodes().withName("rn-kill").delete();
    }

    /**
     * The pause image with volumes of every kind that makes the kubelet or containerd mount
     * something (hostPath, emptyDir, configMap, secret on tmpfs, the projected ServiceAccount
     * token), and the probe image (a static C program, local-cluster/src/test/c/probe.c) that
     * writes {@code written by <pod>} to the hostPath and logs {@code hello from <pod> on <node>}
     * through downward-API env and the kubelet's $(VAR) expansion of args.
     */
    static Pod pausePod(String name, String node, Path hostDir) throws java.io.IOException {
        Files.setPosixFilePermissions(
                hostDir, java.nio.file.attribute.PosixFilePermissions.fromString("rwxrwxrwx"));
        return new PodBuilder()
                .withNewMetadata()
                .withName(name)
                .endMetadata()
                .withNewSpec()
                .withNodeSelector(Map.of("kubernetes.io/hostname", node))
                .withTerminationGracePeriodSeconds(2L)
                .addNewContainer()
                .withName("main")
                .withImage("phoenix/pause:1.0")
                .withImagePullPolicy("Never")
                .addNewVolumeMount()
                .withName("scratch")
                .withMountPath("/scratch")
                .endVolumeMount()
                .addNewVolumeMount()
                .withName("cm")
                .withMountPath("/cm")
                .endVolumeMount()
                .addNewVolumeMount()
                .withName("s")
                .withMountPath("/s")
                .endVolumeMount()
                .endContainer()
                .addNewContainer()
                .withName("log")
                .withImage("phoenix/probe:1.0")
                .withImagePullPolicy("Never")
                .addNewEnv()
                .withName("POD_NAME")
                .withNewValueFrom()
                .withNewFieldRef()
                .withFieldPath("metadata.name")
                .endFieldRef()
                .endValueFrom()
                .endEnv()
                .addNewEnv()
                .withName("NODE_NAME")
                .withNewValueFrom()
                .withNewFieldRef()
                .withFieldPath("spec.nodeName")
                .endFieldRef()
                .endValueFrom()
                .endEnv()
                .withArgs(
                        "--write",
                        "/host/$(POD_NAME)",
                        "written by $(POD_NAME)",
                        "--log",
                        "hello from $(POD_NAME) on $(NODE_NAME)",
                        "--sleep")
                .addNewVolumeMount()
                .withName("host")
                .withMountPath("/host")
                .endVolumeMount()
                .endContainer()
                .addNewVolume()
                .withName("host")
                .withNewHostPath()
                .withPath(hostDir.toString())
                .withType("Directory")
                .endHostPath()
                .endVolume()
                .addNewVolume()
                .withName("scratch")
                .withNewEmptyDir()
                .endEmptyDir()
                .endVolume()
                .addNewVolume()
                .withName("cm")
                .withNewConfigMap()
                .withName("cm")
                .withOptional(true)
                .endConfigMap()
                .endVolume()
                .addNewVolume()
                .withName("s")
                .withNewSecret()
                .withSecretName("s")
                .withOptional(true)
                .endSecret()
                .endVolume()
                .endSpec()
                .build();
    }

    private static boolean tcpAnswer(String ip) {
        try (java.net.Socket s = new java.net.Socket()) {
            s.connect(new java.net.InetSocketAddress(ip, 9), 2000);
            return true;
        } catch (java.net.ConnectException e) {
            return true; // refused = the pod's kernel answered
        } catch (Exception e) {
            return false;
        }
    }
}
