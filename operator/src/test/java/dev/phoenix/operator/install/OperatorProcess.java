package dev.phoenix.operator.install;

import dev.phoenix.local.controlplane.ControlPlane;
import dev.phoenix.local.process.ManagedProcess;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * The operator as the Deployment runs it: {@code dev.phoenix.operator.OperatorMain} in its own JVM,
 * with the Deployment's environment (read from the rendered deploy/), authenticated as the
 * ServiceAccount phoenix-system/phoenix-operator through a kubeconfig holding a bound token.
 *
 * <p>Why a process and not PhoenixOperator.start in the test JVM: this runs exactly what the image
 * runs (main class, environment, shutdown hook on SIGTERM), two replicas really compete for the
 * Lease, and a replica can be killed (SIGKILL) the way a node loss kills it; and an operator that
 * exits on a lost lease cannot end the test JVM.
 */
final class OperatorProcess implements AutoCloseable {
    final ManagedProcess process;
    final int httpPort;

    private OperatorProcess(ManagedProcess process, int httpPort) {
        this.process = process;
        this.httpPort = httpPort;
    }

    static OperatorProcess start(ControlPlane cp, Deployment deployment, String name)
            throws IOException {
        Path dir = Files.createTempDirectory("phoenix-operator-" + name);
        String token =
                cp.serviceAccountToken("phoenix-system", "phoenix-operator", Duration.ofHours(1));
        Path kubeconfig = dir.resolve("kubeconfig");
        Files.writeString(
                kubeconfig,
                """
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
                """
                        .formatted(cp.masterUrl(), cp.caCertPath(), token));
        int port = ManagedProcess.freePort();
        ManagedProcess p =
                ManagedProcess.builder(
                                name,
                                ManagedProcess.javaCommand(
                                        List.of("-Xmx256m", "-XX:TieredStopAtLevel=1"),
                                        System.getProperty("java.class.path"),
                                        "dev.phoenix.operator.OperatorMain"))
                        .logFile(dir.resolve("operator.log"))
                        .environment(
                                env -> {
                                    env.remove("KUBERNETES_MASTER");
                                    for (EnvVar e :
                                            deployment
                                                    .getSpec()
                                                    .getTemplate()
                                                    .getSpec()
                                                    .getContainers()
                                                    .get(0)
                                                    .getEnv()) {
                                        if (e.getValue() != null) {
                                            env.put(e.getName(), e.getValue());
                                        } else if (e.getValueFrom() != null
                                                && e.getValueFrom().getFieldRef() != null
                                                && "metadata.namespace"
                                                        .equals(
                                                                e.getValueFrom()
                                                                        .getFieldRef()
                                                                        .getFieldPath())) {
                                            env.put(
                                                    e.getName(),
                                                    deployment
                                                            .getMetadata()
                                                            .getNamespace()); // what the downward
                                            // API gives
                                        }
                                    }
                                    env.put(
                                            "JAVA_TOOL_OPTIONS",
                                            env.getOrDefault("JAVA_TOOL_OPTIONS", "")
                                                    .replace(
                                                            "-Djava.io.tmpdir=/tmp",
                                                            "-Djava.io.tmpdir=" + dir));
                                    env.put(
                                            "PHOENIX_HTTP_PORT",
                                            Integer.toString(port)); // two replicas on one host
                                    env.put(
                                            "HOSTNAME",
                                            name); // JOSDK's leader identity, as in a pod
                                    env.put("KUBECONFIG", kubeconfig.toString());
                                })
                        .start();
        return new OperatorProcess(p, port);
    }

    int get(String path) {
        return ManagedProcess.httpGet(httpPort, path);
    }

    OperatorProcess awaitReady() throws IOException {
        process.awaitHttpOk(httpPort, "/readyz", Duration.ofSeconds(120));
        return this;
    }

    String log() {
        try {
            return Files.readString(process.logFile());
        } catch (IOException e) {
            return "(no log: " + e + ")";
        }
    }

    /** SIGTERM, as the kubelet sends; returns whether it exited within the given time. */
    boolean terminate(Duration within) throws InterruptedException {
        return process.terminate(within);
    }

    @Override
    public void close() {
        process.stop(5_000);
    }
}
