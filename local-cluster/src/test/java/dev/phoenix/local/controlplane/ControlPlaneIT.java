package dev.phoenix.local.controlplane;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.phoenix.local.controlplane.junit.ControlPlaneExtension;
import dev.phoenix.local.controlplane.junit.TestNamespace;
import dev.phoenix.local.controlplane.junit.WithControlPlane;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.GenericKubernetesResourceBuilder;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinitionBuilder;
import io.fabric8.kubernetes.api.model.apiextensions.v1.JSONSchemaPropsBuilder;
import io.fabric8.kubernetes.api.model.rbac.PolicyRuleBuilder;
import io.fabric8.kubernetes.api.model.rbac.RoleBindingBuilder;
import io.fabric8.kubernetes.api.model.rbac.RoleBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** Scheduler + controller manager + RBAC + CRDs on the shared (full) control plane. */
@WithControlPlane(scheduler = true, controllerManager = true)
class ControlPlaneIT {

    @Test
    void adminIsAuthenticatedAndKubeconfigWorksWithKubectl(ControlPlane cp, KubernetesClient admin)
            throws Exception {
        assertThat(cp.isRunning()).isTrue();
        assertThat(admin.getKubernetesVersion().getGitVersion())
                .isEqualTo("v" + KubernetesBinaries.VERSION);
        assertThat(admin.namespaces().withName("kube-system").get()).isNotNull();

        Process p =
                new ProcessBuilder(
                                cp.kubectl().toString(),
                                "--kubeconfig",
                                cp.kubeconfigPath().toString(),
                                "get",
                                "namespace",
                                "default",
                                "-o",
                                "name")
                        .redirectErrorStream(true)
                        .start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(out).isZero();
        assertThat(out.strip()).isEqualTo("namespace/default");
    }

    @Test
    void realSchedulerBindsGpuPodToNodeWithGpuCapacity(
            ControlPlane cp, KubernetesClient admin, TestNamespace ns) {
        String nodeName = "gpu-node-" + UUID.randomUUID().toString().substring(0, 8);
        Map<String, Quantity> capacity =
                Map.of(
                        "cpu",
                        new Quantity("8"),
                        "memory",
                        new Quantity("32Gi"),
                        "pods",
                        new Quantity("110"),
                        "nvidia.com/gpu",
                        new Quantity("1"));
        String now = Instant.now().toString();
        Node node =
                new NodeBuilder()
                        .withNewMetadata()
                        .withName(nodeName)
                        .addToLabels("phoenix.dev/test-node", nodeName)
                        .endMetadata()
                        .withNewStatus()
                        .withCapacity(capacity)
                        .withAllocatable(capacity)
                        .addNewCondition()
                        .withType("Ready")
                        .withStatus("True")
                        .withReason("KubeletReady")
                        .withLastHeartbeatTime(now)
                        .withLastTransitionTime(now)
                        .endCondition()
                        .endStatus()
                        .build();
        Node created = admin.nodes().resource(node).create();
        try {
            if (created.getStatus() == null
                    || created.getStatus().getAllocatable() == null
                    || !created.getStatus().getAllocatable().containsKey("nvidia.com/gpu")) {
                created.setStatus(node.getStatus());
                admin.nodes().resource(created).updateStatus();
            }
            Pod first =
                    admin.pods()
                            .inNamespace(ns.name())
                            .resource(gpuPod("trainer-0", nodeName))
                            .create();
            await().atMost(Duration.ofSeconds(60))
                    .pollInterval(Duration.ofMillis(250))
                    .untilAsserted(
                            () ->
                                    assertThat(
                                                    admin.pods()
                                                            .inNamespace(ns.name())
                                                            .withName("trainer-0")
                                                            .get()
                                                            .getSpec()
                                                            .getNodeName())
                                            .isEqualTo(nodeName));
            assertThat(first.getSpec().getNodeName()).isNull(); // bound by the scheduler, not by us

            // The single GPU is taken: a second GPU pod stays Pending with a scheduler verdict.
            admin.pods().inNamespace(ns.name()).resource(gpuPod("trainer-1", nodeName)).create();
            await().atMost(Duration.ofSeconds(60))
                    .pollInterval(Duration.ofMillis(250))
                    .untilAsserted(
                            () -> {
                                Pod p =
                                        admin.pods()
                                                .inNamespace(ns.name())
                                                .withName("trainer-1")
                                                .get();
                                assertThat(p.getSpec().getNodeName()).isNull();
                                assertThat(p.getStatus().getConditions())
                                        .anySatisfy(
                                                c -> {
                                                    assertThat(c.getType())
                                                            .isEqualTo("PodScheduled");
                                                    assertThat(c.getStatus()).isEqualTo("False");
                                                    assertThat(c.getMessage())
                                                            .contains("nvidia.com/gpu");
                                                });
                            });
        } finally {
            admin.pods().inNamespace(ns.name()).withGracePeriod(0).delete();
            admin.nodes().withName(nodeName).delete();
        }
    }

    private static Pod gpuPod(String name, String nodeName) {
        return new PodBuilder()
                .withNewMetadata()
                .withName(name)
                .endMetadata()
                .withNewSpec()
                .withNodeSelector(Map.of("phoenix.dev/test-node", nodeName))
                .addNewContainer()
                .withName("trainer")
                .withImage("phoenix/trainer:test")
                .withNewResources()
                .withLimits(Map.of("nvidia.com/gpu", new Quantity("1")))
                .withRequests(Map.of("cpu", new Quantity("100m"), "memory", new Quantity("64Mi")))
                .endResources()
                .endContainer()
                .endSpec()
                .build();
    }

    @Test
    void customResourceRoundTripAndSchemaValidation(
            ControlPlane cp, KubernetesClient admin, TestNamespace ns) {
        String group = "t" + UUID.randomUUID().toString().substring(0, 6) + ".phoenix.dev";
        CustomResourceDefinition crd =
                new CustomResourceDefinitionBuilder()
                        .withNewMetadata()
                        .withName("widgets." + group)
                        .endMetadata()
                        .withNewSpec()
                        .withGroup(group)
                        .withScope("Namespaced")
                        .withNewNames()
                        .withKind("Widget")
                        .withPlural("widgets")
                        .withSingular("widget")
                        .endNames()
                        .addNewVersion()
                        .withName("v1")
                        .withServed(true)
                        .withStorage(true)
                        .withNewSubresources()
                        .withNewStatus()
                        .endStatus()
                        .endSubresources()
                        .withNewSchema()
                        .withOpenAPIV3Schema(
                                new JSONSchemaPropsBuilder()
                                        .withType("object")
                                        .addToProperties(
                                                "spec",
                                                new JSONSchemaPropsBuilder()
                                                        .withType("object")
                                                        .addToProperties(
                                                                "size",
                                                                new JSONSchemaPropsBuilder()
                                                                        .withType("integer")
                                                                        .withMinimum(1.0)
                                                                        .build())
                                                        .addToProperties(
                                                                "tags",
                                                                new JSONSchemaPropsBuilder()
                                                                        .withType("array")
                                                                        .withNewItems()
                                                                        .withSchema(
                                                                                new JSONSchemaPropsBuilder()
                                                                                        .withType(
                                                                                                "string")
                                                                                        .build())
                                                                        .endItems()
                                                                        .build())
                                                        .build())
                                        .addToProperties(
                                                "status",
                                                new JSONSchemaPropsBuilder()
                                                        .withType("object")
                                                        .addToProperties(
                                                                "phase",
                                                                new JSONSchemaPropsBuilder()
                                                                        .withType("string")
                                                                        .build())
                                                        .build())
                                        .build())
                        .endSchema()
                        .endVersion()
                        .endSpec()
                        .build();
        admin.apiextensions().v1().customResourceDefinitions().resource(crd).create();
        try {
            await().atMost(Duration.ofSeconds(30))
                    .untilAsserted(
                            () ->
                                    assertThat(
                                                    admin.apiextensions()
                                                            .v1()
                                                            .customResourceDefinitions()
                                                            .withName("widgets." + group)
                                                            .get()
                                                            .getStatus()
                                                            .getConditions())
                                            .anySatisfy(
                                                    c -> {
                                                        assertThat(c.getType())
                                                                .isEqualTo("Established");
                                                        assertThat(c.getStatus()).isEqualTo("True");
                                                    }));
            ResourceDefinitionContext ctx =
                    new ResourceDefinitionContext.Builder()
                            .withGroup(group)
                            .withVersion("v1")
                            .withKind("Widget")
                            .withPlural("widgets")
                            .withNamespaced(true)
                            .build();
            GenericKubernetesResource w =
                    new GenericKubernetesResourceBuilder()
                            .withApiVersion(group + "/v1")
                            .withKind("Widget")
                            .withNewMetadata()
                            .withName("w1")
                            .withNamespace(ns.name())
                            .endMetadata()
                            .addToAdditionalProperties(
                                    "spec", Map.of("size", 3, "tags", List.of("a", "b")))
                            .build();
            admin.genericKubernetesResources(ctx).inNamespace(ns.name()).resource(w).create();
            GenericKubernetesResource back =
                    admin.genericKubernetesResources(ctx)
                            .inNamespace(ns.name())
                            .withName("w1")
                            .get();
            assertThat(back.<Integer>get("spec", "size")).isEqualTo(3);
            assertThat(back.<List<String>>get("spec", "tags")).containsExactly("a", "b");

            back.setAdditionalProperty("status", Map.of("phase", "Running"));
            admin.genericKubernetesResources(ctx)
                    .inNamespace(ns.name())
                    .resource(back)
                    .updateStatus();
            assertThat(
                            admin.genericKubernetesResources(ctx)
                                    .inNamespace(ns.name())
                                    .withName("w1")
                                    .get()
                                    .<String>get("status", "phase"))
                    .isEqualTo("Running");
            assertThat(
                            admin.genericKubernetesResources(ctx)
                                    .inNamespace(ns.name())
                                    .list()
                                    .getItems())
                    .hasSize(1);

            GenericKubernetesResource bad =
                    new GenericKubernetesResourceBuilder()
                            .withApiVersion(group + "/v1")
                            .withKind("Widget")
                            .withNewMetadata()
                            .withName("bad")
                            .withNamespace(ns.name())
                            .endMetadata()
                            .addToAdditionalProperties("spec", Map.of("size", 0))
                            .build();
            assertThatThrownBy(
                            () ->
                                    admin.genericKubernetesResources(ctx)
                                            .inNamespace(ns.name())
                                            .resource(bad)
                                            .create())
                    .isInstanceOfSatisfying(
                            KubernetesClientException.class,
                            e -> assertThat(e.getCode()).isEqualTo(422));
            assertThat(cp.isRunning()).as("apiserver survived the custom-resource writes").isTrue();
        } finally {
            admin.apiextensions()
                    .v1()
                    .customResourceDefinitions()
                    .withName("widgets." + group)
                    .delete();
        }
    }

    @Test
    void serviceAccountClientIsBoundByRbac(
            ControlPlane cp, KubernetesClient admin, TestNamespace ns) {
        try (KubernetesClient robot = cp.clientFor(ns.name(), "robot")) {
            assertThatThrownBy(() -> robot.configMaps().inNamespace(ns.name()).list())
                    .isInstanceOfSatisfying(
                            KubernetesClientException.class,
                            e -> assertThat(e.getCode()).isEqualTo(403))
                    .hasMessageContaining("system:serviceaccount:" + ns.name() + ":robot");

            admin.rbac()
                    .roles()
                    .inNamespace(ns.name())
                    .resource(
                            new RoleBuilder()
                                    .withNewMetadata()
                                    .withName("configmaps")
                                    .endMetadata()
                                    .withRules(
                                            new PolicyRuleBuilder()
                                                    .withApiGroups("")
                                                    .withResources("configmaps")
                                                    .withVerbs("get", "list", "create")
                                                    .build())
                                    .build())
                    .create();
            admin.rbac()
                    .roleBindings()
                    .inNamespace(ns.name())
                    .resource(
                            new RoleBindingBuilder()
                                    .withNewMetadata()
                                    .withName("robot-configmaps")
                                    .endMetadata()
                                    .withNewRoleRef()
                                    .withApiGroup("rbac.authorization.k8s.io")
                                    .withKind("Role")
                                    .withName("configmaps")
                                    .endRoleRef()
                                    .addNewSubject()
                                    .withKind("ServiceAccount")
                                    .withName("robot")
                                    .withNamespace(ns.name())
                                    .endSubject()
                                    .build())
                    .create();

            await().atMost(Duration.ofSeconds(30))
                    .ignoreException(KubernetesClientException.class)
                    .untilAsserted(
                            () ->
                                    assertThat(
                                                    robot.configMaps()
                                                            .inNamespace(ns.name())
                                                            .list()
                                                            .getItems())
                                            .isNotNull());
            robot.configMaps()
                    .inNamespace(ns.name())
                    .resource(
                            new io.fabric8.kubernetes.api.model.ConfigMapBuilder()
                                    .withNewMetadata()
                                    .withName("report")
                                    .endMetadata()
                                    .addToData("k", "v")
                                    .build())
                    .create();
            assertThat(admin.configMaps().inNamespace(ns.name()).withName("report").get().getData())
                    .containsEntry("k", "v");
            // still nothing beyond the Role
            assertThatThrownBy(() -> robot.secrets().inNamespace(ns.name()).list())
                    .isInstanceOfSatisfying(
                            KubernetesClientException.class,
                            e -> assertThat(e.getCode()).isEqualTo(403));
            assertThatThrownBy(
                            () ->
                                    robot.configMaps()
                                            .inNamespace(ns.name())
                                            .withName("report")
                                            .delete())
                    .isInstanceOfSatisfying(
                            KubernetesClientException.class,
                            e -> assertThat(e.getCode()).isEqualTo(403));
        }
    }

    @Test
    void extensionSharesOneControlPlanePerOptionSet(ControlPlane cp) {
        assertThat(ControlPlaneExtension.shared(new ControlPlaneExtension.Options(true, true, -1)))
                .isSameAs(cp);
        assertThat(cp.hasScheduler()).isTrue();
        assertThat(cp.hasControllerManager()).isTrue();
    }

    @Test
    void podsAreAdmittedWithTheirServiceAccount(KubernetesClient admin, TestNamespace ns) {
        Pod p =
                admin.pods()
                        .inNamespace(ns.name())
                        .resource(
                                new PodBuilder()
                                        .withNewMetadata()
                                        .withName("plain")
                                        .endMetadata()
                                        .withNewSpec()
                                        .addNewContainer()
                                        .withName("c")
                                        .withImage("local/sh")
                                        .endContainer()
                                        .endSpec()
                                        .build())
                        .create();
        assertThat(p.getSpec().getServiceAccountName()).isEqualTo("default");
        // A bound, projected service-account token (no legacy token Secret since 1.24).
        assertThat(p.getSpec().getVolumes())
                .anySatisfy(
                        v -> {
                            assertThat(v.getName()).startsWith("kube-api-access-");
                            assertThat(v.getProjected().getSources())
                                    .anySatisfy(
                                            src ->
                                                    assertThat(src.getServiceAccountToken())
                                                            .isNotNull());
                        });
        // DefaultTolerationSeconds admission
        assertThat(p.getSpec().getTolerations())
                .anySatisfy(
                        t -> assertThat(t.getKey()).isEqualTo("node.kubernetes.io/unreachable"));
        admin.pods().inNamespace(ns.name()).withName("plain").withGracePeriod(0).delete();
    }
}
