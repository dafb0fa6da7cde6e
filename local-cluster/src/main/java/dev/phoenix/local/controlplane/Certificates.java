package dev.phoenix.local.controlplane;

import dev.phoenix.local.process.ManagedProcess;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

/**
 * Generates the PKI of one control plane with the {@code openssl} CLI: a CA, an API server serving
 * certificate (127.0.0.1, localhost, the kubernetes service names and its cluster IP) and the
 * service-account signing key pair.
 */
final class Certificates {
    final Path caCert;
    final Path caKey;
    final Path servingCert;
    final Path servingKey;
    final Path serviceAccountKey;
    final Path serviceAccountPub;
    private final Path dir;

    private Certificates(Path dir) {
        this.dir = dir;
        caCert = dir.resolve("ca.crt");
        caKey = dir.resolve("ca.key");
        servingCert = dir.resolve("apiserver.crt");
        servingKey = dir.resolve("apiserver.key");
        serviceAccountKey = dir.resolve("sa.key");
        serviceAccountPub = dir.resolve("sa.pub");
    }

    static Certificates generate(Path dir, String kubernetesServiceIp, String listenAddress)
            throws IOException {
        Files.createDirectories(dir);
        Certificates c = new Certificates(dir);
        Path cnf = dir.resolve("openssl.cnf");
        Files.writeString(
                cnf,
                String.join(
                        "\n",
                        "[req]",
                        "distinguished_name = dn",
                        "prompt = no",
                        "[dn]",
                        "CN = unused",
                        "[v3_ca]",
                        "basicConstraints = critical,CA:TRUE",
                        "keyUsage = critical,keyCertSign,cRLSign,digitalSignature",
                        "subjectKeyIdentifier = hash",
                        "[v3_serving]",
                        "basicConstraints = critical,CA:FALSE",
                        "keyUsage = critical,digitalSignature,keyEncipherment",
                        "extendedKeyUsage = serverAuth,clientAuth",
                        "subjectKeyIdentifier = hash",
                        "authorityKeyIdentifier = keyid",
                        "subjectAltName = IP:127.0.0.1,DNS:localhost,IP:"
                                + kubernetesServiceIp
                                + (listenAddress.equals("127.0.0.1") ? "" : ",IP:" + listenAddress)
                                + ",DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc"
                                + ",DNS:kubernetes.default.svc.cluster.local",
                        "[v3_client]",
                        "basicConstraints = critical,CA:FALSE",
                        "keyUsage = critical,digitalSignature,keyEncipherment",
                        "extendedKeyUsage = clientAuth",
                        ""),
                StandardCharsets.UTF_8);
        openssl(
                dir,
                "req",
                "-x509",
                "-config",
                cnf.toString(),
                "-extensions",
                "v3_ca",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                c.caKey.toString(),
                "-out",
                c.caCert.toString(),
                "-days",
                "3650",
                "-subj",
                "/CN=phoenix-local-ca");
        Path csr = dir.resolve("apiserver.csr");
        openssl(
                dir,
                "req",
                "-new",
                "-config",
                cnf.toString(),
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                c.servingKey.toString(),
                "-out",
                csr.toString(),
                "-subj",
                "/CN=kube-apiserver");
        openssl(
                dir,
                "x509",
                "-req",
                "-in",
                csr.toString(),
                "-CA",
                c.caCert.toString(),
                "-CAkey",
                c.caKey.toString(),
                "-set_serial",
                Long.toString(ThreadLocalRandom.current().nextLong(1, Long.MAX_VALUE)),
                "-days",
                "3650",
                "-extfile",
                cnf.toString(),
                "-extensions",
                "v3_serving",
                "-out",
                c.servingCert.toString());
        openssl(
                dir,
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
                c.serviceAccountKey.toString());
        openssl(
                dir,
                "pkey",
                "-in",
                c.serviceAccountKey.toString(),
                "-pubout",
                "-out",
                c.serviceAccountPub.toString());
        return c;
    }

    /**
     * A client certificate signed by the CA, {@code <name>.crt} and {@code <name>.key} in the PKI
     * dir; {@code subject} like {@code /O=system:nodes/CN=system:node:n1} (the API server maps O to
     * groups, CN to the user).
     */
    Path[] clientCert(String name, String subject) throws IOException {
        Path key = dir.resolve(name + ".key");
        Path crt = dir.resolve(name + ".crt");
        Path csr = dir.resolve(name + ".csr");
        Path cnf = dir.resolve("openssl.cnf");
        openssl(
                dir,
                "req",
                "-new",
                "-config",
                cnf.toString(),
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                key.toString(),
                "-out",
                csr.toString(),
                "-subj",
                subject);
        openssl(
                dir,
                "x509",
                "-req",
                "-in",
                csr.toString(),
                "-CA",
                caCert.toString(),
                "-CAkey",
                caKey.toString(),
                "-set_serial",
                Long.toString(ThreadLocalRandom.current().nextLong(1, Long.MAX_VALUE)),
                "-days",
                "3650",
                "-extfile",
                cnf.toString(),
                "-extensions",
                "v3_client",
                "-out",
                crt.toString());
        return new Path[] {crt, key};
    }

    private static void openssl(Path dir, String... args) throws IOException {
        List<String> cmd = new ArrayList<>();
        cmd.add("openssl");
        cmd.addAll(List.of(args));
        Path out = dir.resolve("openssl.log");
        Process p =
                new ProcessBuilder(cmd)
                        .directory(dir.toFile())
                        .redirectErrorStream(true)
                        .redirectOutput(ProcessBuilder.Redirect.appendTo(out.toFile()))
                        .start();
        try {
            if (!p.waitFor(60, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IOException("openssl timed out: " + cmd);
            }
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
        if (p.exitValue() != 0) {
            throw new IOException(
                    "openssl failed ("
                            + p.exitValue()
                            + "): "
                            + cmd
                            + "\n"
                            + ManagedProcess.tail(out, 20));
        }
    }
}
