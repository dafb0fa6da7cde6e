package dev.phoenix.operator.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.phoenix.local.controlplane.ControlPlane;
import dev.phoenix.local.controlplane.junit.TestNamespace;
import dev.phoenix.local.controlplane.junit.WithControlPlane;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every kind of bad TrainingJob a user is likely to write is refused by `kubectl apply` against a
 * real API server with an error naming the field. The messages are collected into
 * target/invalid-manifests.md, the table the README shows.
 */
@WithControlPlane(scheduler = false, controllerManager = false)
class InvalidManifestIT {
    private static final String VALID =
            """
            apiVersion: phoenix.dev/v1alpha1
            kind: TrainingJob
            metadata:
              name: bad
            spec:
              replicas: 2
              checkpoint:
                path: /checkpoints
                intervalSteps: 10
              template:
                spec:
                  containers:
                    - name: trainer
                      image: phoenix/trainer:0.1.0
            """;
    private static final List<String> ROWS = new ArrayList<>();
    private static ControlPlane controlPlane;

    @BeforeAll
    static void crd(ControlPlane cp, KubernetesClient client) throws IOException {
        controlPlane = cp;
        OperatorHarness.installCrd(client);
    }

    static List<Arguments> invalid() {
        return List.of(
                Arguments.of(
                        "no replicas of the gang",
                        VALID.replace("replicas: 2", "replicas: 0"),
                        "spec.replicas"),
                Arguments.of(
                        "replicas not a number",
                        VALID.replace("replicas: 2", "replicas: two"),
                        "spec.replicas"),
                Arguments.of("no spec at all", VALID.substring(0, VALID.indexOf("spec:")), "spec"),
                Arguments.of(
                        "no pod template",
                        VALID.substring(0, VALID.indexOf("  template:")),
                        "spec.template"),
                Arguments.of(
                        "no checkpoint section",
                        VALID.replace(
                                "  checkpoint:\n    path: /checkpoints\n"
                                        + "    intervalSteps: 10\n",
                                ""),
                        "spec.checkpoint"),
                Arguments.of(
                        "relative checkpoint path",
                        VALID.replace("path: /checkpoints", "path: checkpoints"),
                        "spec.checkpoint.path"),
                Arguments.of(
                        "checkpoint interval of 0 steps",
                        VALID.replace("intervalSteps: 10", "intervalSteps: 0"),
                        "spec.checkpoint.intervalSteps"),
                Arguments.of(
                        "keepLatest of 0",
                        VALID.replace("intervalSteps: 10", "intervalSteps: 10\n    keepLatest: 0"),
                        "spec.checkpoint.keepLatest"),
                Arguments.of(
                        "negative resumeStep",
                        VALID.replace("replicas: 2", "replicas: 2\n  resumeStep: -5"),
                        "spec.resumeStep"),
                Arguments.of(
                        "negative backoffLimit",
                        VALID.replace("replicas: 2", "replicas: 2\n  backoffLimit: -1"),
                        "spec.backoffLimit"),
                Arguments.of(
                        "negative maxPreemptions",
                        VALID.replace("replicas: 2", "replicas: 2\n  maxPreemptions: -1"),
                        "spec.maxPreemptions"),
                Arguments.of(
                        "negative ttlSecondsAfterFinished",
                        VALID.replace("replicas: 2", "replicas: 2\n  ttlSecondsAfterFinished: -1"),
                        "spec.ttlSecondsAfterFinished"),
                Arguments.of(
                        "masterPort out of range",
                        VALID.replace("replicas: 2", "replicas: 2\n  masterPort: 70000"),
                        "spec.masterPort"),
                Arguments.of(
                        "suspend not a boolean",
                        VALID.replace("replicas: 2", "replicas: 2\n  suspend: maybe"),
                        "spec.suspend"),
                Arguments.of(
                        "template without containers",
                        VALID.replace(
                                """
                              containers:
                                - name: trainer
                                  image: phoenix/trainer:0.1.0
                        """,
                                "      nodeSelector: {gpu: \"true\"}\n"),
                        "spec.template.spec.containers"),
                Arguments.of(
                        "container without image",
                        VALID.replace("      image: phoenix/trainer:0.1.0\n", ""),
                        "image"),
                Arguments.of(
                        "misspelled field (replica)",
                        VALID.replace("replicas: 2", "replica: 2"),
                        "replica"),
                // CEL rules (x-kubernetes-validations), evaluated by the API server
                Arguments.of(
                        "name too long for its worker hostnames (55 characters, 2 replicas)",
                        VALID.replace("name: bad", "name: " + "a".repeat(55)),
                        "metadata.name"),
                Arguments.of(
                        "name too long for 100 replicas (54 characters)",
                        VALID.replace("name: bad", "name: " + "a".repeat(54))
                                .replace("replicas: 2", "replicas: 100"),
                        "metadata.name"),
                Arguments.of(
                        "dotted name",
                        VALID.replace("name: bad", "name: bad.job"),
                        "metadata.name"),
                Arguments.of(
                        "name starting with a digit",
                        VALID.replace("name: bad", "name: 1bad"),
                        "metadata.name"),
                Arguments.of(
                        "restartPolicy other than Never",
                        VALID.replace(
                                "    spec:\n      containers:",
                                "    spec:\n      restartPolicy: OnFailure\n      containers:"),
                        "spec.template.spec.restartPolicy"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("invalid")
    void isRefusedWithAnErrorNamingTheField(
            String kind, String manifest, String field, TestNamespace ns) throws Exception {
        Result r = kubectlApply(manifest, ns.name());
        assertThat(r.exitCode).as("kubectl apply of %s must fail:%n%s", kind, r.output).isNotZero();
        // kubectl validates against the CRD's OpenAPI schema itself once its discovery cache has
        // it,
        // otherwise the API server answers; either way the message names the field.
        String leaf = field.substring(field.lastIndexOf('.') + 1);
        assertThat(r.output).contains(leaf);
        ROWS.add(
                "| "
                        + kind
                        + " | `"
                        + r.output.strip().replace("|", "\\|").replace("\n", " ")
                        + "` |");
    }

    @Test
    void theValidManifestIsAccepted(TestNamespace ns) throws Exception {
        Result r = kubectlApply(VALID, ns.name());
        assertThat(r.exitCode).as(r.output).isZero();
    }

    /** The longest name the CEL rule lets through still gives valid pod hostnames. */
    @Test
    void theLongestAcceptedNameFitsItsHostnames(TestNamespace ns) throws Exception {
        String name = "a".repeat(54); // 2 replicas: <name>-worker-1 is 54 + 9 = 63 characters
        Result r = kubectlApply(VALID.replace("name: bad", "name: " + name), ns.name());
        assertThat(r.exitCode).as(r.output).isZero();
        assertThat((name + "-worker-1").length()).isEqualTo(63);
    }

    @AfterAll
    static void writeTable() throws IOException {
        List<String> lines = new ArrayList<>();
        lines.add("| invalid manifest | what `kubectl apply` prints |");
        lines.add("| --- | --- |");
        lines.addAll(ROWS);
        Files.createDirectories(Path.of("target"));
        Files.write(Path.of("target/invalid-manifests.md"), lines);
    }

    private record Result(int exitCode, String output) {}

    private Result kubectlApply(String manifest, String namespace) throws Exception {
        Process p =
                new ProcessBuilder(
                                controlPlane.kubectl().toString(),
                                "--kubeconfig",
                                controlPlane.kubeconfigPath().toString(),
                                "-n",
                                namespace,
                                "apply",
                                "-f",
                                "-")
                        .redirectErrorStream(true)
                        .start();
        p.getOutputStream().write(manifest.getBytes(StandardCharsets.UTF_8));
        p.getOutputStream().close();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        return new Result(p.exitValue(), out);
    }
}
