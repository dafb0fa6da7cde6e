package dev.phoenix.local.controlplane;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A private control plane without scheduler and controller manager: lifecycle and options. */
class MinimalControlPlaneIT {

    @Test
    void apiServerOnlyAdmitsPodsUsesConfiguredTolerationsAndCloseCleansUp(@TempDir Path tmp)
            throws Exception {
        Path dir = tmp.resolve("cp");
        ControlPlane cp =
                ControlPlane.builder()
                        .withScheduler(false)
                        .withControllerManager(false)
                        .defaultNotReadyTolerationSeconds(5)
                        .defaultUnreachableTolerationSeconds(7)
                        .workDir(dir)
                        .build()
                        .start();
        List<ProcessHandle> components;
        try {
            assertThat(cp.masterUrl()).startsWith("https://127.0.0.1:");
            assertThat(Files.readString(cp.kubeconfigPath()))
                    .contains(cp.masterUrl())
                    .contains(cp.adminToken());
            assertThat(Files.readString(dir.resolve("pids")).strip().split(" "))
                    .hasSize(2); // etcd, apiserver
            components =
                    java.util.Arrays.stream(
                                    Files.readString(dir.resolve("pids")).strip().split(" "))
                            .map(pid -> ProcessHandle.of(Long.parseLong(pid)).orElseThrow())
                            .toList();
            assertThat(components).allSatisfy(ph -> assertThat(ph.isAlive()).isTrue());

            KubernetesClient admin = cp.adminClient();
            String ns = cp.createNamespace("minimal");
            // No controller manager: ServiceAccount admission is off, so the pod is admitted
            // anyway.
            Pod p =
                    admin.pods()
                            .inNamespace(ns)
                            .resource(
                                    new PodBuilder()
                                            .withNewMetadata()
                                            .withName("p")
                                            .endMetadata()
                                            .withNewSpec()
                                            .addNewContainer()
                                            .withName("c")
                                            .withImage("local/sh")
                                            .endContainer()
                                            .endSpec()
                                            .build())
                            .create();
            assertThat(p.getSpec().getTolerations())
                    .anySatisfy(
                            t -> {
                                assertThat(t.getKey()).isEqualTo("node.kubernetes.io/not-ready");
                                assertThat(t.getTolerationSeconds()).isEqualTo(5L);
                            });
            assertThat(p.getSpec().getTolerations())
                    .anySatisfy(
                            t -> {
                                assertThat(t.getKey()).isEqualTo("node.kubernetes.io/unreachable");
                                assertThat(t.getTolerationSeconds()).isEqualTo(7L);
                            });
            // TokenRequest needs no controller manager.
            try (KubernetesClient sa = cp.clientFor(ns, "someone")) {
                assertThatThrownBy(() -> sa.pods().inNamespace(ns).list())
                        .isInstanceOfSatisfying(
                                KubernetesClientException.class,
                                e -> assertThat(e.getCode()).isEqualTo(403));
            }
            // Invalid token is rejected (authentication is real). Asked over HTTP/1.1: on HTTP/2 a
            // current API server answers 401 and then closes the connection (GOAWAY), which the JDK
            // client reports as an I/O error instead of the status.
            var http =
                    java.net.http.HttpClient.newBuilder()
                            .version(java.net.http.HttpClient.Version.HTTP_1_1)
                            .sslContext(caTrust(cp))
                            .build();
            var response =
                    http.send(
                            java.net.http.HttpRequest.newBuilder(
                                            java.net.URI.create(
                                                    cp.masterUrl() + "/api/v1/namespaces"))
                                    .header("Authorization", "Bearer not-a-token")
                                    .build(),
                            java.net.http.HttpResponse.BodyHandlers.ofString());
            assertThat(response.statusCode()).isEqualTo(401);
        } finally {
            cp.close();
        }
        assertThat(cp.isRunning()).isFalse();
        for (ProcessHandle ph : components) {
            assertThat(ph.isAlive()).as("component %s stopped", ph.pid()).isFalse();
        }
        assertThat(dir).doesNotExist();
    }

    @Test
    void refusesANonEmptyForeignWorkDir(@TempDir Path tmp) throws Exception {
        Files.writeString(tmp.resolve("precious.txt"), "do not delete");
        assertThatThrownBy(() -> ControlPlane.builder().workDir(tmp).build())
                .isInstanceOf(IllegalArgumentException.class);
        assertThat(tmp.resolve("precious.txt")).exists();
    }

    private static javax.net.ssl.SSLContext caTrust(ControlPlane cp) throws Exception {
        var ks = java.security.KeyStore.getInstance(java.security.KeyStore.getDefaultType());
        ks.load(null, null);
        try (var in = java.nio.file.Files.newInputStream(cp.caCertPath())) {
            ks.setCertificateEntry(
                    "ca",
                    java.security.cert.CertificateFactory.getInstance("X.509")
                            .generateCertificate(in));
        }
        var tmf =
                javax.net.ssl.TrustManagerFactory.getInstance(
                        javax.net.ssl.TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(ks);
        var ctx = javax.net.ssl.SSLContext.getInstance("TLS");
        ctx.init(null, tmf.getTrustManagers(), null);
        return ctx;
    }
}
