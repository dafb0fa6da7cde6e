package dev.phoenix.operator.install;

import static org.awaitility.Awaitility.await;

import dev.phoenix.local.controlplane.ControlPlane;
import dev.phoenix.local.controlplane.KubernetesBinaries;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Shared helpers of the install tests: the repository, kubectl, rendering deploy/, installing it.
 */
final class Manifests {
    static final Duration TIMEOUT = Duration.ofSeconds(60);

    private Manifests() {}

    static Path repoRoot() {
        Path p = Path.of("").toAbsolutePath();
        while (p != null
                && !(Files.exists(p.resolve("crds")) && Files.exists(p.resolve("deploy")))) {
            p = p.getParent();
        }
        if (p == null) {
            throw new IllegalStateException(
                    "cannot find the repository root (a directory with crds/ and deploy/)");
        }
        return p;
    }

    /**
     * The kubectl users run `kubectl apply -k` with: $PHOENIX_KUBECTL, else the kubectl of the
     * control plane's own release (it embeds kustomize v5, which knows `labels:` and components).
     */
    static String kubectl() {
        String env = System.getenv("PHOENIX_KUBECTL");
        if (env != null && !env.isBlank()) {
            return env;
        }
        return KubernetesBinaries.locate().resolve("kubectl").toString();
    }

    record Result(int exitCode, String stdout, String stderr) {
        Result ok() {
            if (exitCode != 0) {
                throw new AssertionError(
                        "kubectl exited " + exitCode + ":\n" + stderr + "\n" + stdout);
            }
            return this;
        }
    }

    /** Runs kubectl against the control plane (admin kubeconfig), with optional stdin. */
    static Result kubectl(ControlPlane cp, String stdin, String... args)
            throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(kubectl()));
        if (cp != null) {
            cmd.add("--kubeconfig=" + cp.kubeconfigPath());
        }
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(repoRoot().toFile());
        pb.environment().remove("KUBECONFIG");
        Path out = Files.createTempFile("kubectl", ".out");
        Path err = Files.createTempFile("kubectl", ".err");
        pb.redirectOutput(out.toFile()).redirectError(err.toFile());
        Process p = pb.start();
        try (var in = p.getOutputStream()) {
            if (stdin != null) {
                in.write(stdin.getBytes(StandardCharsets.UTF_8));
            }
        }
        if (!p.waitFor(120, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("kubectl " + args + " timed out");
        }
        try {
            return new Result(p.exitValue(), Files.readString(out), Files.readString(err));
        } finally {
            Files.deleteIfExists(out);
            Files.deleteIfExists(err);
        }
    }

    /** `kubectl kustomize <dir>` relative to the repository root. */
    static String render(String dir) throws IOException, InterruptedException {
        return kubectl(null, null, "kustomize", dir).ok().stdout();
    }

    static List<HasMetadata> load(KubernetesClient client, String yaml) {
        return client.load(new ByteArrayInputStream(yaml.getBytes(StandardCharsets.UTF_8))).items();
    }

    /**
     * Installs deploy/ for real, exactly as a user does (`kubectl apply -k deploy/`), and waits
     * until the CRD is established. Idempotent.
     */
    static void installDeploy(ControlPlane cp, KubernetesClient admin)
            throws IOException, InterruptedException {
        kubectl(cp, null, "apply", "-k", "deploy/").ok();
        awaitCrdEstablished(admin, "trainingjobs.phoenix.dev");
    }

    static void awaitCrdEstablished(KubernetesClient admin, String name) {
        await().atMost(TIMEOUT)
                .pollInterval(200, TimeUnit.MILLISECONDS)
                .until(
                        () -> {
                            CustomResourceDefinition c =
                                    admin.apiextensions()
                                            .v1()
                                            .customResourceDefinitions()
                                            .withName(name)
                                            .get();
                            return c != null
                                    && c.getStatus() != null
                                    && c.getStatus().getConditions() != null
                                    && c.getStatus().getConditions().stream()
                                            .anyMatch(
                                                    x ->
                                                            "Established".equals(x.getType())
                                                                    && "True"
                                                                            .equals(x.getStatus()));
                        });
    }
}
