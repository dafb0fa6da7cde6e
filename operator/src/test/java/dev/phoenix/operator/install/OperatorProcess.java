package dev.phoenix.operator.install;

import static org.awaitility.Awaitility.await;

import dev.phoenix.local.controlplane.ControlPlane;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The operator as the Deployment runs it: {@code dev.phoenix.operator.OperatorMain} in its own JVM, with the
 * Deployment's environment (read from the rendered deploy/), authenticated as the ServiceAccount
 * phoenix-system/phoenix-operator through a kubeconfig holding a bound token.
 *
 * <p>Why a process and not PhoenixOperator.start in the test JVM: this runs exactly what the image runs (main
 * class, environment, shutdown hook on SIGTERM), two replicas really compete for the Lease, and a replica can be
 * killed (SIGKILL) the way a node loss kills it; and an operator that exits on a lost lease cannot end the test
 * JVM.
 */
final class OperatorProcess implements AutoCloseable {
    final Process process;
    final int httpPort;
    final Path log;

    private OperatorProcess(Process process, int httpPort, Path log) {
        this.process = process;
        this.httpPort = httpPort;
        this.log = log;
    }

    static OperatorProcess start(ControlPlane cp, Deployment deployment, String name) throws IOException {
        Path dir = Files.createTempDirectory("phoenix-operator-" + name);
        String token = cp.serviceAccountToken("phoenix-system", "phoenix-operator", Duration.ofHours(1));
        Path kubeconfig = dir.resolve("kubeconfig");
        Files.writeString(kubeconfig, """
                apiVersion: v1
                kind: Config
                clusters:
                - name: local
                  cluster:
                    server: %s
                    certificate-authority: %s
                users:
                - name: phoenix-operator
                  user:
                    token: %s
                contexts:
                - name: operator
                  context: {cluster: local, user: phoenix-operator, namespace: phoenix-system}
                current-context: operator
                """.formatted(cp.masterUrl(), cp.caCertPath(), token));
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        ProcessBuilder pb = new ProcessBuilder(java, "-Xmx256m", "-XX:TieredStopAtLevel=1",
                "-cp", System.getProperty("java.class.path"), "dev.phoenix.operator.OperatorMain");
        Map<String, String> env = pb.environment();
        env.remove("KUBERNETES_MASTER");
        for (EnvVar e : deployment.getSpec().getTemplate().getSpec().getContainers().get(0).getEnv()) {
            if (e.getValue() != null) {
                env.put(e.getName(), e.getValue());
            } else if (e.getValueFrom() != null && e.getValueFrom().getFieldRef() != null
                    && "metadata.namespace".equals(e.getValueFrom().getFieldRef().getFieldPath())) {
                env.put(e.getName(), deployment.getMetadata().getNamespace());   // what the downward API gives
            }
        }
        env.put("JAVA_TOOL_OPTIONS", env.getOrDefault("JAVA_TOOL_OPTIONS", "")
                .replace("-Djava.io.tmpdir=/tmp", "-Djava.io.tmpdir=" + dir));
        env.put("PHOENIX_HTTP_PORT", Integer.toString(port));       // two replicas on one host
        env.put("HOSTNAME", name);                                  // JOSDK's leader identity, as in a pod
        env.put("KUBECONFIG", kubeconfig.toString());
        Path log = dir.resolve("operator.log");
        pb.redirectErrorStream(true).redirectOutput(log.toFile());
        return new OperatorProcess(pb.start(), port, log);
    }

    int get(String path) {
        try {
            return HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + httpPort + path))
                    .timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.ofString()).statusCode();
        } catch (IOException e) {
            return -1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return -1;
        }
    }

    OperatorProcess awaitReady() {
        await().atMost(Duration.ofSeconds(120)).pollInterval(500, TimeUnit.MILLISECONDS).until(() -> {
            if (!process.isAlive()) {
                throw new AssertionError("operator exited " + process.exitValue() + ":\n" + log());
            }
            return get("/readyz") == 200;
        });
        return this;
    }

    String log() {
        try {
            return Files.readString(log);
        } catch (IOException e) {
            return "(no log: " + e + ")";
        }
    }

    /** SIGTERM, as the kubelet sends; returns whether it exited within the given time. */
    boolean terminate(Duration within) throws InterruptedException {
        process.destroy();
        return process.waitFor(within.toMillis(), TimeUnit.MILLISECONDS);
    }

    @Override
    public void close() throws InterruptedException {
        if (process.isAlive() && !terminate(Duration.ofSeconds(5))) {
            process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
    }
}
