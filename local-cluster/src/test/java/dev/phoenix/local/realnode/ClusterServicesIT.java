package dev.phoenix.local.realnode;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.phoenix.local.controlplane.ControlPlane;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Hashtable;
import java.util.List;
import javax.naming.directory.Attribute;
import javax.naming.directory.InitialDirContext;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * kube-proxy and CoreDNS for a cluster whose API server listens on the pod network's gateway: the
 * kubernetes Service gets that endpoint and kube-proxy a rule for its ClusterIP, CoreDNS answers
 * cluster names (and only those), a second cluster on the machine is refused a second kube-proxy,
 * and after close the machine's iptables are exactly as before.
 */
class ClusterServicesIT {

    @Test
    void serviceProxyAndClusterDnsServeTheClusterAndLeaveNothingBehind(@TempDir Path tmp)
            throws Exception {
        String before = iptablesSave();
        try (PodNetwork net = PodNetwork.create(tmp.resolve("net"));
                ControlPlane cp =
                        ControlPlane.builder()
                                .listenAddress(net.nodeIp())
                                .workDir(tmp.resolve("cp"))
                                .build()
                                .start()) {
            var admin = cp.adminClient();
            try (ClusterServices svc = ClusterServices.start(cp, net, "cs-node")) {
                // no node named cs-node: kube-proxy waits for it for 30 s, then runs without it
                svc.awaitReady(Duration.ofMinutes(2));

                EndpointSlice apiSlice =
                        admin.discovery()
                                .v1()
                                .endpointSlices()
                                .inNamespace("default")
                                .withLabel("kubernetes.io/service-name", "kubernetes")
                                .list()
                                .getItems()
                                .get(0);
                assertThat(apiSlice.getEndpoints().get(0).getAddresses())
                        .as("the kubernetes Service's endpoint")
                        .containsExactly(net.nodeIp());
                awaitTrue(
                        () ->
                                iptablesSave()
                                        .contains(
                                                "-d " + ControlPlane.KUBERNETES_SERVICE_IP + "/32"),
                        "kube-proxy's rule for the kubernetes Service");

                admin.services()
                        .inNamespace("default")
                        .resource(
                                new ServiceBuilder()
                                        .withNewMetadata()
                                        .withName("cs-probe")
                                        .endMetadata()
                                        .withNewSpec()
                                        .addNewPort()
                                        .withPort(80)
                                        .endPort()
                                        .endSpec()
                                        .build())
                        .create();
                String clusterIp =
                        admin.services()
                                .inNamespace("default")
                                .withName("cs-probe")
                                .get()
                                .getSpec()
                                .getClusterIP();
                awaitTrue(
                        () ->
                                List.of(ControlPlane.KUBERNETES_SERVICE_IP)
                                                .equals(
                                                        lookup(
                                                                net.nodeIp(),
                                                                "kubernetes.default.svc.cluster.local"))
                                        && List.of(clusterIp)
                                                .equals(
                                                        lookup(
                                                                net.nodeIp(),
                                                                "cs-probe.default.svc.cluster.local")),
                        "CoreDNS answers the Services' names");
                assertThat(lookup(net.nodeIp(), "example.com"))
                        .as("nothing outside the cluster is resolved")
                        .isEmpty();

                assertThatThrownBy(() -> ClusterServices.start(cp, net, "cs-node"))
                        .as("a second kube-proxy on this machine")
                        .isInstanceOf(IllegalStateException.class)
                        .hasMessageContaining("runs this machine's kube-proxy");
            }
        }
        assertThat(iptablesSave()).as("iptables after close").isEqualTo(before);
    }

    /**
     * A-record lookup against {@code server} only (JNDI's DNS provider: no system resolver
     * involved).
     */
    private static List<String> lookup(String server, String name) {
        Hashtable<String, String> env = new Hashtable<>();
        env.put("java.naming.factory.initial", "com.sun.jndi.dns.DnsContextFactory");
        env.put("java.naming.provider.url", "dns://" + server);
        env.put("com.sun.jndi.dns.timeout.initial", "1000");
        env.put("com.sun.jndi.dns.timeout.retries", "1");
        try {
            Attribute a =
                    new InitialDirContext(env).getAttributes(name, new String[] {"A"}).get("A");
            if (a == null) {
                return List.of();
            }
            List<String> out = new java.util.ArrayList<>();
            for (int i = 0; i < a.size(); i++) {
                out.add(a.get(i).toString());
            }
            return out;
        } catch (javax.naming.NamingException e) {
            return List.of();
        }
    }

    private static String iptablesSave() throws Exception {
        StringBuilder sb = new StringBuilder();
        for (String tool : List.of("iptables-save", "ip6tables-save")) {
            Commands.Result r = Commands.run(60, List.of(tool));
            // Counters and the header/footer timestamps change between runs; the rules and the
            // chains are what must be equal, by table. An empty table with only its built-in
            // chains at ACCEPT is no table: on a fresh machine iptables-save prints nothing before
            // the first kube-proxy and the empty tables it leaves after.
            String table = "";
            for (String l : r.output().lines().toList()) {
                String line = l.replaceAll("\\[\\d+:\\d+\\]", "").strip();
                if (line.startsWith("*")) {
                    table = line.substring(1);
                } else if (line.startsWith("-")
                        || (line.startsWith(":")
                                && !line.matches(
                                        ":(PREROUTING|INPUT|FORWARD|OUTPUT|POSTROUTING) ACCEPT"))) {
                    sb.append(tool).append(' ').append(table).append(' ').append(line).append('\n');
                }
            }
        }
        return sb.toString();
    }

    private static void awaitTrue(java.util.concurrent.Callable<Boolean> condition, String what)
            throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (!condition.call()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("not within 60 s: " + what);
            }
            Thread.sleep(250);
        }
    }
}
