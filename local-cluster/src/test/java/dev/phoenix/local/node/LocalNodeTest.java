package dev.phoenix.local.node;

import dev.phoenix.local.controlplane.ControlPlane;
import dev.phoenix.local.controlplane.junit.TestNamespace;
import dev.phoenix.local.controlplane.junit.WithControlPlane;
import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.client.KubernetesClient;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;

import static dev.phoenix.local.node.NodeTestSupport.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

@WithControlPlane
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class LocalNodeTest {

    private static final String NODE = "ln-basic";
    private LocalNode node;
    private KubernetesClient client;
    private Path workDir;

    @BeforeAll
    void startNode(KubernetesClient client, ControlPlane cp) throws Exception {
        this.client = client;
        workDir = Files.createTempDirectory("local-node-test");
        Path src = workDir.resolve("Term.java");
        Files.writeString(src, String.join("\n",
                "import java.nio.file.*;",
                "public class Term {",
                "  public static void main(String[] a) throws Exception {",
                "    Path out = Path.of(a[0]);",
                "    Runtime.getRuntime().addShutdownHook(new Thread(() -> {",
                "      try { Files.writeString(out.resolve(\"term\"), \"TERM \" + System.getenv(\"PHOENIX_POD_NAME\")); } catch (Exception e) { }",
                "    }));",
                "    Files.writeString(out.resolve(\"started\"), \"up\");",
                "    Thread.sleep(600_000);",
                "  }",
                "}"));
        Path who = workDir.resolve("Who.java");
        Files.writeString(who, String.join("\n",
                "import io.fabric8.kubernetes.client.*;",
                "public class Who {",
                "  public static void main(String[] a) throws Exception {",
                "    try (KubernetesClient c = new KubernetesClientBuilder().build()) {",
                "      var cm = c.configMaps().inNamespace(c.getNamespace()).withName(a[0]).get();",
                "      String out = \"got \" + cm.getData().get(\"k\");",
                "      try { c.configMaps().inNamespace(c.getNamespace()).withName(\"other\").get(); } catch (KubernetesClientException e) { out += \" other:\" + e.getCode(); }",
                "      java.nio.file.Files.writeString(java.nio.file.Path.of(System.getenv(\"PHOENIX_TERMINATION_LOG\")), out);",
                "    }",
                "  }",
                "}"));
        node = LocalNode.builder().client(client).name(NODE).gpus(2).workDir(workDir).deleteNodeOnClose(true)
                .images(ImageMapping.defaults().with("phoenix/test-java", List.of("java", "${*TEST_JAVA_OPTS}", "${TERM_TEST_SRC}"))
                        .with("phoenix/test-fabric8", List.of("java", "-cp", "${F8_CP}", "${F8_SRC}")))
                .variable("F8_CP", System.getProperty("java.class.path")).variable("F8_SRC", who.toString())
                .variable("TERM_TEST_SRC", src.toString())
                .heartbeat(Duration.ofSeconds(2)).restartBackoff(Duration.ofMillis(200)).start();
    }

    @AfterAll
    void stopNode() {
        if (node != null) {
            node.close();
        }
    }

    @Test
    void registersNodeAndKeepsHeartbeat() {
        Node n = client.nodes().withName(NODE).get();
        assertThat(n.getStatus().getCapacity()).containsEntry("nvidia.com/gpu", new Quantity("2"));
        assertThat(n.getStatus().getAllocatable()).containsKey("nvidia.com/gpu");
        assertThat(n.getStatus().getAddresses()).anyMatch(a -> a.getType().equals("InternalIP") && a.getAddress().equals("127.0.0.1"));
        assertThat(n.getStatus().getNodeInfo().getKubeletVersion()).isEqualTo("v1.20.2");
        assertThat(n.getStatus().getConditions()).anyMatch(c -> c.getType().equals("Ready") && c.getStatus().equals("True"));
        var lease = client.leases().inNamespace("kube-node-lease").withName(NODE).get();
        assertThat(lease).isNotNull();
        var first = lease.getSpec().getRenewTime();
        await().atMost(Duration.ofSeconds(20)).until(() -> !client.leases().inNamespace("kube-node-lease").withName(NODE).get()
                .getSpec().getRenewTime().equals(first));
        String hb = ready(client.nodes().withName(NODE).get()).getLastHeartbeatTime();
        await().atMost(Duration.ofSeconds(20)).until(() -> !ready(client.nodes().withName(NODE).get()).getLastHeartbeatTime().equals(hb));
    }

    private static io.fabric8.kubernetes.api.model.NodeCondition ready(Node n) {
        return n.getStatus().getConditions().stream().filter(c -> c.getType().equals("Ready")).findFirst().orElseThrow();
    }

    @Test
    void failedPodWithDownwardEnvAndEmptyDir(TestNamespace ns) throws Exception {
        Pod pod = shPod("fails", NODE, "echo $MY_POD_NAME > /data/out; echo \"$(MY_NS)\" > /data/ns; exit 3")
                .editSpec().editFirstContainer()
                .addNewEnv().withName("MY_POD_NAME").withNewValueFrom().withNewFieldRef().withFieldPath("metadata.name").endFieldRef().endValueFrom().endEnv()
                .addNewEnv().withName("MY_NS").withNewValueFrom().withNewFieldRef().withFieldPath("metadata.namespace").endFieldRef().endValueFrom().endEnv()
                .addNewVolumeMount().withName("data").withMountPath("/data").endVolumeMount()
                .endContainer()
                .addNewVolume().withName("data").withNewEmptyDir().endEmptyDir().endVolume()
                .endSpec().build();
        Pod created = create(client, ns.name(), pod);
        Pod p = awaitPhase(client, ns.name(), "fails", "Failed");
        ContainerStatus cs = status(p, "main");
        assertThat(cs.getState().getTerminated().getExitCode()).isEqualTo(3);
        assertThat(cs.getState().getTerminated().getReason()).isEqualTo("Error");
        assertThat(cs.getState().getTerminated().getStartedAt()).isNotNull();
        assertThat(cs.getState().getTerminated().getFinishedAt()).isNotNull();
        assertThat(cs.getRestartCount()).isZero();
        assertThat(p.getStatus().getPodIP()).startsWith("127.1.");
        assertThat(p.getStatus().getHostIP()).isEqualTo("127.0.0.1");
        assertThat(p.getStatus().getStartTime()).isNotNull();
        assertThat(condition(p, "Ready").orElseThrow().getStatus()).isEqualTo("False");
        assertThat(condition(p, "PodScheduled").orElseThrow().getStatus()).isEqualTo("True");
        assertThat(condition(p, "Initialized").orElseThrow().getStatus()).isEqualTo("True");
        Path dir = node.volumeDir(created, "data");
        assertThat(Files.readString(dir.resolve("out")).trim()).isEqualTo("fails");
        assertThat(Files.readString(dir.resolve("ns")).trim()).isEqualTo(ns.name());
        if (node.useBwrap()) {
            assertThat(Path.of("/data/out")).doesNotExist();
        }
    }

    @Test
    void succeededPodRunsInitContainersFirstAndResolvesConfig(TestNamespace ns) throws Exception {
        client.configMaps().inNamespace(ns.name()).resource(new io.fabric8.kubernetes.api.model.ConfigMapBuilder()
                .withNewMetadata().withName("cfg").endMetadata().addToData("greeting", "hello").addToData("FROM_ENVFROM", "yes").build()).create();
        client.secrets().inNamespace(ns.name()).resource(new io.fabric8.kubernetes.api.model.SecretBuilder()
                .withNewMetadata().withName("sec").endMetadata().addToStringData("password", "s3cret").build()).create();
        Pod pod = new PodBuilder().withNewMetadata().withName("ok").addToLabels("app", "demo").endMetadata()
                .withNewSpec().withNodeName(NODE).withRestartPolicy("Never").withAutomountServiceAccountToken(false)
                .addNewInitContainer().withName("init").withImage("local/sh")
                .withCommand("sh", "-c", "echo init > /work/init").addNewVolumeMount().withName("work").withMountPath("/work").endVolumeMount()
                .endInitContainer()
                .addNewContainer().withName("main").withImage("local/sh")
                .withCommand("sh", "-c", "cat /work/init /cfg/greeting /sec/password > /work/out; echo \"$APP $PW $FROM_ENVFROM $COMBINED\" >> /work/out; cat /podinfo/labels >> /work/out")
                .addNewEnvFrom().withNewConfigMapRef().withName("cfg").endConfigMapRef().endEnvFrom()
                .addNewEnv().withName("APP").withNewValueFrom().withNewFieldRef().withFieldPath("metadata.labels['app']").endFieldRef().endValueFrom().endEnv()
                .addNewEnv().withName("PW").withNewValueFrom().withNewSecretKeyRef().withName("sec").withKey("password").endSecretKeyRef().endValueFrom().endEnv()
                .addNewEnv().withName("COMBINED").withValue("$(APP)-$(PW)").endEnv()
                .addNewVolumeMount().withName("work").withMountPath("/work").endVolumeMount()
                .addNewVolumeMount().withName("cfg").withMountPath("/cfg").endVolumeMount()
                .addNewVolumeMount().withName("sec").withMountPath("/sec").endVolumeMount()
                .addNewVolumeMount().withName("podinfo").withMountPath("/podinfo").endVolumeMount()
                .endContainer()
                .addNewVolume().withName("work").withNewEmptyDir().endEmptyDir().endVolume()
                .addNewVolume().withName("cfg").withNewConfigMap().withName("cfg").endConfigMap().endVolume()
                .addNewVolume().withName("sec").withNewSecret().withSecretName("sec").endSecret().endVolume()
                .addNewVolume().withName("podinfo").withNewDownwardAPI().addNewItem().withPath("labels").withNewFieldRef().withFieldPath("metadata.labels").endFieldRef().endItem().endDownwardAPI().endVolume()
                .endSpec().build();
        Pod created = create(client, ns.name(), pod);
        Pod p = awaitPhase(client, ns.name(), "ok", "Succeeded");
        assertThat(status(p, "main").getState().getTerminated().getReason()).isEqualTo("Completed");
        assertThat(p.getStatus().getInitContainerStatuses().get(0).getState().getTerminated().getExitCode()).isZero();
        String out = Files.readString(node.volumeDir(created, "work").resolve("out"));
        assertThat(out).contains("init", "hello", "s3cret", "demo s3cret yes demo-s3cret", "app=\"demo\"");
    }

    @Test
    void pvcDirectoryOutlivesPods(TestNamespace ns) throws Exception {
        for (String name : new String[] {"writer", "reader"}) {
            String script = name.equals("writer") ? "echo persisted > /ckpt/file" : "cat /ckpt/file > /dev/termination-log";
            Pod pod = shPod(name, NODE, script).editSpec().editFirstContainer()
                    .addNewVolumeMount().withName("ckpt").withMountPath("/ckpt").endVolumeMount().endContainer()
                    .addNewVolume().withName("ckpt").withNewPersistentVolumeClaim().withClaimName("checkpoints").endPersistentVolumeClaim().endVolume()
                    .endSpec().build();
            create(client, ns.name(), pod);
            Pod p = awaitPhase(client, ns.name(), name, "Succeeded");
            if (name.equals("reader")) {
                assertThat(status(p, "main").getState().getTerminated().getMessage()).isEqualTo("persisted\n");
            }
            client.pods().inNamespace(ns.name()).withName(name).delete();
            awaitGone(client, ns.name(), name);
        }
        assertThat(node.pvcDir(ns.name(), "checkpoints").resolve("file")).hasContent("persisted");
    }

    @Test
    void terminationMessages(TestNamespace ns) {
        create(client, ns.name(), shPod("msg", NODE, "echo '{\"result\": \"Succeeded\"}' > $PHOENIX_TERMINATION_LOG").build());
        create(client, ns.name(), shPod("custom", NODE, "echo custom > /tmp/phoenix-custom-term").editSpec().editFirstContainer()
                .withTerminationMessagePath("/tmp/phoenix-custom-term").endContainer().endSpec().build());
        create(client, ns.name(), shPod("fallback", NODE, "echo line1; echo boom >&2; exit 7").editSpec().editFirstContainer()
                .withTerminationMessagePolicy("FallbackToLogsOnError").endContainer().endSpec().build());
        Pod msg = awaitPhase(client, ns.name(), "msg", "Succeeded");
        assertThat(status(msg, "main").getState().getTerminated().getMessage()).isEqualTo("{\"result\": \"Succeeded\"}\n");
        Pod custom = awaitPhase(client, ns.name(), "custom", "Succeeded");
        assertThat(status(custom, "main").getState().getTerminated().getMessage()).isEqualTo("custom\n");
        Pod fb = awaitPhase(client, ns.name(), "fallback", "Failed");
        assertThat(status(fb, "main").getState().getTerminated().getExitCode()).isEqualTo(7);
        assertThat(status(fb, "main").getState().getTerminated().getMessage()).contains("line1", "boom");
        assertThat(node.logFile(fb, "main", 0)).content().contains("boom");
    }

    @Test
    void gracefulDeletionSendsSigtermAndRemovesThePod(TestNamespace ns) throws Exception {
        Path dir = Files.createTempDirectory(workDir, "graceful");
        Pod pod = shPod("graceful", NODE, "trap 'echo TERM > /out/term; exit 143' TERM; echo up > /out/started; while true; do sleep 0.1; done")
                .editSpec().editFirstContainer().addNewVolumeMount().withName("out").withMountPath("/out").endVolumeMount().endContainer()
                .addNewVolume().withName("out").withNewHostPath().withPath(dir.toString()).withType("DirectoryOrCreate").endHostPath().endVolume()
                .endSpec().build();
        create(client, ns.name(), pod);
        Pod running = awaitRunning(client, ns.name(), "graceful", dir.resolve("started"));
        assertThat(status(running, "main").getState().getRunning()).isNotNull();
        assertThat(condition(running, "Ready").orElseThrow().getStatus()).isEqualTo("True");
        try (Recorder rec = new Recorder(client, ns.name(), "graceful")) {
            Instant t0 = Instant.now();
            client.pods().inNamespace(ns.name()).withName("graceful").delete();
            awaitGone(client, ns.name(), "graceful");
            assertThat(Duration.between(t0, Instant.now())).isLessThan(Duration.ofSeconds(9));
            assertThat(dir.resolve("term")).hasContent("TERM");
            await().atMost(Duration.ofSeconds(5)).until(() -> rec.deleted);
            ContainerStatus cs = rec.lastTerminated("main");
            assertThat(cs).isNotNull();
            assertThat(cs.getState().getTerminated().getExitCode()).isEqualTo(143);
        }
    }

    @Test
    void mappedJavaImageGetsSigtermUnderTheSandbox(TestNamespace ns) throws Exception {
        Path dir = Files.createTempDirectory(workDir, "java");
        Pod pod = new PodBuilder().withNewMetadata().withName("java-worker").endMetadata()
                .withNewSpec().withNodeName(NODE).withRestartPolicy("Never").withTerminationGracePeriodSeconds(20L).withAutomountServiceAccountToken(false)
                .addNewContainer().withName("trainer").withImage("registry.example/phoenix/test-java:1.0").withArgs("/out")
                .addNewEnv().withName("PHOENIX_POD_NAME").withNewValueFrom().withNewFieldRef().withFieldPath("metadata.name").endFieldRef().endValueFrom().endEnv()
                .addNewVolumeMount().withName("out").withMountPath("/out").endVolumeMount().endContainer()
                .addNewVolume().withName("out").withNewHostPath().withPath(dir.toString()).endHostPath().endVolume()
                .endSpec().build();
        create(client, ns.name(), pod);
        await().atMost(Duration.ofSeconds(120)).until(() -> Files.exists(dir.resolve("started")));
        try (Recorder rec = new Recorder(client, ns.name(), "java-worker")) {
            client.pods().inNamespace(ns.name()).withName("java-worker").delete();
            awaitGone(client, ns.name(), "java-worker");
            await().atMost(Duration.ofSeconds(5)).until(() -> rec.deleted);
            assertThat(rec.lastTerminated("trainer").getState().getTerminated().getExitCode()).isEqualTo(143);
        }
        assertThat(dir.resolve("term")).hasContent("TERM java-worker");
    }

    @Test
    void sigkillAfterTheGracePeriod(TestNamespace ns) throws Exception {
        Path dir = Files.createTempDirectory(workDir, "stubborn");
        Pod pod = shPod("stubborn", NODE, "trap '' TERM; echo up > /out/started; while true; do sleep 0.1; done")
                .editSpec().withTerminationGracePeriodSeconds(2L).editFirstContainer()
                .addNewVolumeMount().withName("out").withMountPath("/out").endVolumeMount().endContainer()
                .addNewVolume().withName("out").withNewHostPath().withPath(dir.toString()).endHostPath().endVolume()
                .endSpec().build();
        create(client, ns.name(), pod);
        awaitRunning(client, ns.name(), "stubborn", dir.resolve("started"));
        try (Recorder rec = new Recorder(client, ns.name(), "stubborn")) {
            Instant t0 = Instant.now();
            client.pods().inNamespace(ns.name()).withName("stubborn").delete();
            awaitGone(client, ns.name(), "stubborn");
            assertThat(Duration.between(t0, Instant.now())).isGreaterThanOrEqualTo(Duration.ofMillis(1900));
            await().atMost(Duration.ofSeconds(5)).until(() -> rec.deleted);
            assertThat(rec.lastTerminated("main").getState().getTerminated().getExitCode()).isEqualTo(137);
        }
    }

    @Test
    void onFailureRestartsUntilSuccess(TestNamespace ns) {
        Pod pod = shPod("flaky", NODE, "if [ -f /s/once ]; then exit 0; fi; touch /s/once; exit 1").editSpec().withRestartPolicy("OnFailure")
                .editFirstContainer().addNewVolumeMount().withName("s").withMountPath("/s").endVolumeMount().endContainer()
                .addNewVolume().withName("s").withNewEmptyDir().endEmptyDir().endVolume().endSpec().build();
        create(client, ns.name(), pod);
        Pod p = awaitPhase(client, ns.name(), "flaky", "Succeeded");
        ContainerStatus cs = status(p, "main");
        assertThat(cs.getRestartCount()).isEqualTo(1);
        assertThat(cs.getLastState().getTerminated().getExitCode()).isEqualTo(1);
        assertThat(cs.getState().getTerminated().getExitCode()).isZero();
    }

    @Test
    void podsResolveEachOthersHostnames(TestNamespace ns) {
        Pod server = shPod("job-worker-1", NODE, "while true; do sleep 0.2; done").editSpec()
                .withHostname("job-worker-1").withSubdomain("job").endSpec().build();
        create(client, ns.name(), server);
        Pod serverRunning = awaitPhase(client, ns.name(), "job-worker-1", "Running");
        Pod client0 = shPod("job-worker-0", NODE,
                "for i in $(seq 1 100); do getent hosts job-worker-1.job > /dev/termination-log && getent hosts job-worker-1.job." + ns.name()
                        + ".svc.cluster.local >> /dev/termination-log && [ \"$(hostname)\" = job-worker-0 ]; "
                        + "if [ -s /dev/termination-log ]; then getent hosts job-worker-0 >> /dev/termination-log; exit 0; fi; sleep 0.1; done; exit 1")
                .editSpec().withHostname("job-worker-0").withSubdomain("job").endSpec().build();
        create(client, ns.name(), client0);
        Pod done = awaitPhase(client, ns.name(), "job-worker-0", "Succeeded");
        String message = status(done, "main").getState().getTerminated().getMessage();
        String serverIP = serverRunning.getStatus().getPodIP();
        assertThat(message).contains(serverIP + " ", "job-worker-1.job", done.getStatus().getPodIP());
        assertThat(done.getStatus().getPodIP()).isNotEqualTo(serverIP);
    }

    @Test
    void fabric8InsideThePodActsAsItsServiceAccount(TestNamespace ns) {
        String n = ns.name();
        client.serviceAccounts().inNamespace(n).resource(new io.fabric8.kubernetes.api.model.ServiceAccountBuilder()
                .withNewMetadata().withName("trainer").endMetadata().build()).create();
        client.configMaps().inNamespace(n).resource(new io.fabric8.kubernetes.api.model.ConfigMapBuilder()
                .withNewMetadata().withName("report").endMetadata().addToData("k", "v1").build()).create();
        client.configMaps().inNamespace(n).resource(new io.fabric8.kubernetes.api.model.ConfigMapBuilder()
                .withNewMetadata().withName("other").endMetadata().addToData("k", "secret").build()).create();
        client.rbac().roles().inNamespace(n).resource(new io.fabric8.kubernetes.api.model.rbac.RoleBuilder()
                .withNewMetadata().withName("report").endMetadata()
                .addNewRule().withApiGroups("").withResources("configmaps").withResourceNames("report").withVerbs("get").endRule().build()).create();
        client.rbac().roleBindings().inNamespace(n).resource(new io.fabric8.kubernetes.api.model.rbac.RoleBindingBuilder()
                .withNewMetadata().withName("report").endMetadata()
                .withNewRoleRef().withApiGroup("rbac.authorization.k8s.io").withKind("Role").withName("report").endRoleRef()
                .addNewSubject().withKind("ServiceAccount").withName("trainer").withNamespace(n).endSubject().build()).create();
        Pod pod = new PodBuilder().withNewMetadata().withName("f8").endMetadata()
                .withNewSpec().withNodeName(NODE).withRestartPolicy("Never").withServiceAccountName("trainer")
                .addNewContainer().withName("main").withImage("phoenix/test-fabric8").withArgs("report")
                .withTerminationMessagePolicy("FallbackToLogsOnError").endContainer().endSpec().build();
        create(client, n, pod);
        Pod p = awaitPhase(client, n, "f8", "Succeeded");
        assertThat(status(p, "main").getState().getTerminated().getMessage()).isEqualTo("got v1 other:403");
    }

    @Test
    void serviceAccountIdentityThroughKubeconfig(TestNamespace ns) {
        await().atMost(TIMEOUT).until(() -> client.serviceAccounts().inNamespace(ns.name()).withName("default").get() != null);
        Pod pod = shPod("whoami", NODE, "kubectl get pods 2>&1; echo KUBECONFIG=$KUBECONFIG; exit 1").editSpec()
                .withAutomountServiceAccountToken(true).withServiceAccountName("default")
                .editFirstContainer().withTerminationMessagePolicy("FallbackToLogsOnError").endContainer().endSpec().build();
        create(client, ns.name(), pod);
        Pod p = awaitPhase(client, ns.name(), "whoami", "Failed");
        String msg = status(p, "main").getState().getTerminated().getMessage();
        assertThat(msg).contains("system:serviceaccount:" + ns.name() + ":default").contains("KUBECONFIG=");
    }
}
