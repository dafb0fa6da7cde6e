package dev.phoenix.operator.install;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.phoenix.local.controlplane.ControlPlane;
import dev.phoenix.local.controlplane.junit.TestNamespace;
import dev.phoenix.local.controlplane.junit.WithControlPlane;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every manifest of deploy/ and examples/ goes through the real API server, so none can rot:
 * deploy/ is installed for real with `kubectl apply -k deploy/` and re-applied with a server-side
 * dry run; the overlay and every example are applied with `kubectl apply --dry-run=server`, and
 * each TrainingJob is also sent through a Fabric8 dry run and compared with what came back, because
 * an unknown (misspelt) field must come back as an error, not be pruned silently.
 */
@WithControlPlane(scheduler = false, controllerManager = false)
class DeployManifestsIT {
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
    private static final ObjectMapper JSON = new ObjectMapper();
    private static ControlPlane cp;
    private static KubernetesClient admin;

    @BeforeAll
    static void install(ControlPlane controlPlane, KubernetesClient adminClient) throws Exception {
        cp = controlPlane;
        admin = adminClient;
        Manifests.installDeploy(cp, admin);
    }

    @Test
    void crdCopyIsIdenticalToCrds() throws Exception {
        Path root = Manifests.repoRoot();
        assertThat(
                        Files.readString(
                                root.resolve("deploy/base/crd/trainingjobs.phoenix.dev-v1.yml")))
                .as(
                        "deploy/base/crd/ is stale: cp crds/trainingjobs.phoenix.dev-v1.yml deploy/base/crd/")
                .isEqualTo(Files.readString(root.resolve("crds/trainingjobs.phoenix.dev-v1.yml")));
    }

    @Test
    void applyKDeployInstallsEverythingAndReappliesCleanly() throws Exception {
        assertThat(admin.namespaces().withName("phoenix-system").get()).isNotNull();
        assertThat(
                        admin.serviceAccounts()
                                .inNamespace("phoenix-system")
                                .withName("phoenix-operator")
                                .get())
                .isNotNull();
        assertThat(admin.rbac().clusterRoles().withName("phoenix-operator").get()).isNotNull();
        assertThat(admin.rbac().clusterRoleBindings().withName("phoenix-operator").get())
                .isNotNull();
        assertThat(
                        admin.rbac()
                                .roles()
                                .inNamespace("phoenix-system")
                                .withName("phoenix-operator-leader-election")
                                .get())
                .isNotNull();
        assertThat(
                        admin.apps()
                                .deployments()
                                .inNamespace("phoenix-system")
                                .withName("phoenix-operator")
                                .get())
                .isNotNull();
        assertThat(
                        admin.services()
                                .inNamespace("phoenix-system")
                                .withName("phoenix-operator-metrics")
                                .get())
                .isNotNull();
        Manifests.kubectl(cp, null, "apply", "--dry-run=server", "-k", "deploy/").ok();
        Manifests.kubectl(
                cp, null, "diff", "-k", "deploy/"); // exercised; exit 1 only means "differs"
    }

    @Test
    void theDeploymentIsHardenedAndConfiguredAsDocumented() throws Exception {
        Deployment d =
                Manifests.load(admin, Manifests.render("deploy/")).stream()
                        .filter(Deployment.class::isInstance)
                        .map(Deployment.class::cast)
                        .findFirst()
                        .orElseThrow();
        assertThat(d.getMetadata().getNamespace()).isEqualTo("phoenix-system");
        assertThat(d.getSpec().getReplicas()).isEqualTo(2);
        PodSpec pod = d.getSpec().getTemplate().getSpec();
        assertThat(pod.getServiceAccountName()).isEqualTo("phoenix-operator");
        assertThat(pod.getSecurityContext().getRunAsNonRoot()).isTrue();
        assertThat(pod.getSecurityContext().getSeccompProfile().getType())
                .isEqualTo("RuntimeDefault");
        Container c = pod.getContainers().get(0);
        assertThat(c.getImage()).isEqualTo("phoenix/operator:0.1.0");
        Map<String, String> env =
                c.getEnv().stream()
                        .filter(e -> e.getValue() != null)
                        .collect(Collectors.toMap(EnvVar::getName, EnvVar::getValue));
        assertThat(env)
                .containsEntry("PHOENIX_LOG_FORMAT", "json")
                .containsEntry("PHOENIX_LEADER_ELECTION", "true")
                .containsEntry("PHOENIX_HTTP_PORT", "8080")
                .containsEntry("PHOENIX_LEASE_NAME", "phoenix-operator-lock");
        assertThat(c.getLivenessProbe().getHttpGet().getPath()).isEqualTo("/healthz");
        assertThat(c.getReadinessProbe().getHttpGet().getPath()).isEqualTo("/readyz");
        assertThat(c.getLivenessProbe().getHttpGet().getPort().getStrVal()).isEqualTo("http");
        assertThat(c.getPorts())
                .anySatisfy(
                        p -> {
                            assertThat(p.getName()).isEqualTo("http");
                            assertThat(p.getContainerPort()).isEqualTo(8080);
                        });
        assertThat(c.getResources().getRequests()).containsKeys("cpu", "memory");
        assertThat(c.getResources().getLimits()).containsKeys("cpu", "memory");
        assertThat(c.getSecurityContext().getReadOnlyRootFilesystem()).isTrue();
        assertThat(c.getSecurityContext().getAllowPrivilegeEscalation()).isFalse();
        assertThat(c.getSecurityContext().getCapabilities().getDrop()).containsExactly("ALL");
        assertThat(c.getSecurityContext().getSeccompProfile().getType())
                .isEqualTo("RuntimeDefault");
        assertThat(c.getVolumeMounts())
                .anySatisfy(m -> assertThat(m.getMountPath()).isEqualTo("/tmp"));
        assertThat(pod.getVolumes())
                .anySatisfy(
                        v -> {
                            assertThat(v.getName()).isEqualTo("tmp");
                            assertThat(v.getEmptyDir()).isNotNull();
                        });
    }

    @Test
    void theNamespacedOverlayAppliesAndBindsOnlyItsNamespaces() throws Exception {
        for (String n : List.of("ml-team-a", "ml-team-b")) {
            admin.namespaces()
                    .resource(
                            new NamespaceBuilder()
                                    .withNewMetadata()
                                    .withName(n)
                                    .endMetadata()
                                    .build())
                    .createOr(x -> x.update());
        }
        String rendered = Manifests.render("deploy/overlays/namespaced");
        Manifests.kubectl(cp, rendered, "apply", "--dry-run=server", "-f", "-").ok();
        List<HasMetadata> items = Manifests.load(admin, rendered);
        assertThat(items)
                .noneMatch(
                        i ->
                                i.getKind().equals("ClusterRoleBinding")
                                        && i.getMetadata().getName().equals("phoenix-operator"));
        assertThat(items)
                .filteredOn(
                        i ->
                                i.getKind().equals("RoleBinding")
                                        && i.getMetadata().getName().equals("phoenix-operator"))
                .extracting(i -> i.getMetadata().getNamespace())
                .containsExactlyInAnyOrder("ml-team-a", "ml-team-b");
        Deployment d =
                items.stream()
                        .filter(Deployment.class::isInstance)
                        .map(Deployment.class::cast)
                        .findFirst()
                        .orElseThrow();
        assertThat(d.getSpec().getTemplate().getSpec().getContainers().get(0).getEnv())
                .anySatisfy(
                        e -> {
                            assertThat(e.getName()).isEqualTo("PHOENIX_NAMESPACES");
                            assertThat(e.getValue()).isEqualTo("ml-team-a,ml-team-b");
                        });
    }

    @Test
    void theServiceMonitorComponentRenders() throws Exception {
        Path overlay = Files.createTempDirectory("sm-overlay");
        Path deploy = Manifests.repoRoot().resolve("deploy");
        Files.writeString(
                overlay.resolve("kustomization.yaml"),
                """
                apiVersion: kustomize.config.k8s.io/v1beta1
                kind: Kustomization
                resources: [%s]
                components: [%s]
                """
                        .formatted(
                                overlay.relativize(deploy),
                                overlay.relativize(deploy.resolve("components/servicemonitor"))));
        String rendered = Manifests.render(overlay.toString());
        assertThat(rendered).contains("kind: ServiceMonitor").contains("port: http-metrics");
    }

    static Stream<String> examples() throws Exception {
        try (Stream<Path> files = Files.list(Manifests.repoRoot().resolve("examples"))) {
            List<String> names =
                    files.map(p -> p.getFileName().toString())
                            .filter(n -> n.endsWith(".yaml") || n.endsWith(".yml"))
                            .sorted()
                            .toList();
            assertThat(names)
                    .contains(
                            "quickstart.yaml",
                            "single-gpu.yaml",
                            "gpu-gang.yaml",
                            "spot.yaml",
                            "resume-step.yaml");
            return names.stream();
        }
    }

    @ParameterizedTest
    @MethodSource("examples")
    void everyExampleIsAcceptedByTheApiServerAsWritten(String file, TestNamespace namespace)
            throws Exception {
        String ns = namespace.name();
        String path = "examples/" + file;
        Manifests.kubectl(cp, null, "apply", "--dry-run=server", "-n", ns, "-f", path).ok();

        // Nothing may be silently pruned: the server's version of each TrainingJob contains all we
        // wrote.
        String yaml = Files.readString(Manifests.repoRoot().resolve(path));
        int trainingJobs = 0;
        for (Iterator<JsonNode> it = YAML.readerFor(JsonNode.class).readValues(yaml);
                it.hasNext(); ) {
            JsonNode doc = it.next();
            if (doc == null
                    || doc.isNull()
                    || doc.isMissingNode()
                    || !"TrainingJob".equals(doc.path("kind").asText())) {
                continue;
            }
            trainingJobs++;
            GenericKubernetesResource sent = JSON.treeToValue(doc, GenericKubernetesResource.class);
            sent.getMetadata().setNamespace(ns);
            GenericKubernetesResource back =
                    admin.genericKubernetesResources("phoenix.dev/v1alpha1", "TrainingJob")
                            .inNamespace(ns)
                            .resource(sent)
                            .dryRun()
                            .create();
            List<String> missing = new ArrayList<>();
            missingFields(
                    "spec",
                    doc.get("spec"),
                    JSON.valueToTree(back.getAdditionalProperties().get("spec")),
                    missing);
            assertThat(missing)
                    .as("fields of %s that the API server dropped (misspelt or unknown)", file)
                    .isEmpty();
        }
        assertThat(trainingJobs).as("TrainingJobs in %s", file).isPositive();
    }

    /** Collects every path of {@code want} that is absent from, or different in, {@code got}. */
    private static void missingFields(
            String path, JsonNode want, JsonNode got, List<String> missing) {
        if (got == null || got.isNull() || got.isMissingNode()) {
            missing.add(path);
        } else if (want.isObject()) {
            want.fields()
                    .forEachRemaining(
                            f ->
                                    missingFields(
                                            path + "." + f.getKey(),
                                            f.getValue(),
                                            got.get(f.getKey()),
                                            missing));
        } else if (want.isArray()) {
            for (int i = 0; i < want.size(); i++) {
                missingFields(path + "[" + i + "]", want.get(i), got.get(i), missing);
            }
        } else if (!want.asText().equals(got.asText())) {
            missing.add(path + " (" + want.asText() + " != " + got.asText() + ")");
        }
    }
}
