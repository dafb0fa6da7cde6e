package dev.phoenix.local.realnode;

import dev.phoenix.local.controlplane.ControlPlane;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The pod network of one local cluster: a Linux bridge this class creates, with the gateway address
 * of a /24 no interface or route of the machine uses, and a CNI configuration ({@code bridge} +
 * {@code host-local} IPAM + {@code portmap}) that every node's containerd reads. All nodes share
 * the bridge and one host-local data dir, so pods on different nodes are on one link, as on one
 * rack switch.
 *
 * <p>The workplace's network rule: traffic only to loopback and to addresses the project assigns
 * itself. Hence {@code isGateway: false} and {@code ipMasq: false}: pods get no default route and
 * nothing is masqueraded or forwarded (the bridge plugin leaves {@code net.ipv4.ip_forward} alone);
 * the gateway address is set on the bridge here and is also where the kubelets listen ({@link
 * #nodeIp()}). The one route pods get is to the Service range ({@link
 * ControlPlane#SERVICE_CLUSTER_IP_RANGE}) via the gateway, where kube-proxy's rules send {@code
 * 10.0.0.1:443} to the API server and cluster DNS answers ({@link ClusterServices}).
 *
 * <pre>
 *   x.x.x.1        the bridge: host side, node IP of every kubelet
 *   x.x.x.10-254   pods (host-local)
 * </pre>
 */
public final class PodNetwork implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(PodNetwork.class);

    /**
     * Candidate subnets 10.221.0.0/24 … 10.221.255.0/24; the first one unused on this machine is
     * taken.
     */
    private static final int SECOND_OCTET = 221;

    private final String id;
    private final String bridge;
    private final int third;
    private final Path dir;
    private final HostRegistry registry;
    private volatile boolean closed;

    private PodNetwork(String id, int third, Path dir, HostRegistry registry) {
        this.id = id;
        this.bridge = "phx-" + id;
        this.third = third;
        this.dir = dir;
        this.registry = registry;
    }

    /** Creates the bridge and the CNI configuration under {@code dir} (which it owns). */
    public static PodNetwork create(Path dir) throws IOException {
        return create(dir, HostRegistry.machine());
    }

    static PodNetwork create(Path dir, HostRegistry registry) throws IOException {
        Path abs = dir.toAbsolutePath().normalize();
        Files.createDirectories(abs);
        String id =
                HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextInt()).substring(0, 8);
        PodNetwork net =
                registry.locked(
                        () -> {
                            RealNodeCleanup.cleanOrphans(registry);
                            int third = freeThirdOctet(registry);
                            PodNetwork n = new PodNetwork(id, third, abs, registry);
                            // Recorded before the bridge exists: a crash right after still finds
                            // it.
                            registry.writeNode(
                                    NodeRecord.network(
                                            "net-" + id, abs.toString(), n.bridge, n.subnet()));
                            try {
                                n.createBridge();
                            } catch (IOException | RuntimeException e) {
                                RealNodeCleanup.removeNetwork(
                                        registry,
                                        NodeRecord.network(
                                                "net-" + id, abs.toString(), n.bridge, n.subnet()));
                                throw e;
                            }
                            return n;
                        });
        net.writeConfig();
        LOG.info(
                "pod network {} on bridge {} (gateway {})", net.subnet(), net.bridge, net.nodeIp());
        return net;
    }

    private void createBridge() throws IOException {
        Commands.check("ip", "link", "add", "name", bridge, "type", "bridge");
        // No IPv6 on the bridge: no link-local address, router solicitations or MLD reports from
        // the host side.
        Path v6 = Path.of("/proc/sys/net/ipv6/conf", bridge, "disable_ipv6");
        if (Files.exists(v6)) {
            Files.writeString(v6, "1");
        }
        Commands.check("ip", "addr", "add", nodeIp() + "/24", "dev", bridge);
        Commands.check("ip", "link", "set", bridge, "up");
    }

    private void writeConfig() throws IOException {
        Files.createDirectories(confDir());
        Files.createDirectories(ipamDir());
        String p = prefix();
        String conflist =
                """
        {
          "cniVersion": "1.0.0",
          "name": "%s",
          "plugins": [
            {
              "type": "bridge",
              "bridge": "%s",
              "isGateway": false,
              "ipMasq": false,
              "hairpinMode": true,
              "ipam": {
                "type": "host-local",
                "ranges": [[{"subnet": "%s", "rangeStart": "%s.10", "rangeEnd": "%s.254", "gateway": "%s.1"}]],
                "routes": [{"dst": "%s"}],
                "dataDir": "%s"
              }
            },
            {"type": "portmap", "capabilities": {"portMappings": true}}
          ]
        }
        """
                        .formatted(
                                name(),
                                bridge,
                                subnet(),
                                p,
                                p,
                                p,
                                ControlPlane.SERVICE_CLUSTER_IP_RANGE,
                                ipamDir());
        Files.writeString(
                confDir().resolve("10-phoenix.conflist"), conflist, StandardCharsets.UTF_8);
    }

    /**
     * The third octet of the first 10.221.x.0/24 that no address, route or other pod network uses.
     */
    private static int freeThirdOctet(HostRegistry registry) throws IOException {
        List<long[]> used = new ArrayList<>();
        for (String line :
                (Commands.check("ip", "-o", "-4", "addr", "show")
                                + "\n"
                                + Commands.check("ip", "-4", "route", "show", "table", "all"))
                        .split("\n")) {
            for (String word : line.split("\\s+")) {
                long[] range = cidr(word);
                if (range != null) {
                    used.add(range);
                }
            }
        }
        for (NodeRecord r : registry.nodes()) {
            if (r.subnet() != null) {
                used.add(cidr(r.subnet()));
            }
        }
        for (int third = 0; third < 256; third++) {
            long lo = ip(10, SECOND_OCTET, third, 0);
            long hi = lo + 255;
            boolean free = used.stream().noneMatch(u -> u[0] <= hi && lo <= u[1]);
            if (free) {
                return third;
            }
        }
        throw new IOException("no free /24 in 10." + SECOND_OCTET + ".0.0/16 on this machine");
    }

    /**
     * {@code a.b.c.d/n} or {@code a.b.c.d} → [first, last], or null. "default" is not a range here.
     */
    static long[] cidr(String s) {
        if (!s.matches("\\d+\\.\\d+\\.\\d+\\.\\d+(/\\d+)?")) {
            return null;
        }
        String[] parts = s.split("/");
        String[] o = parts[0].split("\\.");
        long base =
                ip(
                        Integer.parseInt(o[0]),
                        Integer.parseInt(o[1]),
                        Integer.parseInt(o[2]),
                        Integer.parseInt(o[3]));
        int bits = parts.length > 1 ? Integer.parseInt(parts[1]) : 32;
        if (bits == 0) {
            return null; // a default route says nothing about which addresses are in use
        }
        long size = 1L << (32 - bits);
        long first = base & ~(size - 1);
        return new long[] {first, first + size - 1};
    }

    private static long ip(int a, int b, int c, int d) {
        return ((long) a << 24) | ((long) b << 16) | ((long) c << 8) | d;
    }

    private String prefix() {
        return "10." + SECOND_OCTET + "." + third;
    }

    /** The CNI network name, also the prefix of containerd's CNI result cache files. */
    public String name() {
        return "phoenix-" + id;
    }

    public String bridge() {
        return bridge;
    }

    public String subnet() {
        return prefix() + ".0/24";
    }

    /** The bridge's address: where kubelets listen and what nodes report as InternalIP. */
    public String nodeIp() {
        return prefix() + ".1";
    }

    /** The network's own directory (CNI configuration, IPAM state, {@link ClusterServices}). */
    Path dir() {
        return dir;
    }

    HostRegistry registry() {
        return registry;
    }

    /** The directory with the conflist, for containerd's CNI {@code conf_dir}. */
    public Path confDir() {
        return dir.resolve("net.d");
    }

    Path ipamDir() {
        return dir.resolve("ipam");
    }

    /** Pod addresses host-local has handed out and not yet released (files named by address). */
    public List<String> allocatedAddresses() {
        List<String> out = new ArrayList<>();
        Path d = ipamDir().resolve(name());
        if (!Files.isDirectory(d)) {
            return out;
        }
        try (DirectoryStream<Path> s = Files.newDirectoryStream(d)) {
            for (Path f : s) {
                String n = f.getFileName().toString();
                if (n.matches("\\d+\\.\\d+\\.\\d+\\.\\d+")) {
                    out.add(n);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out;
    }

    /**
     * Deletes the bridge (and with it any veth still attached) and containerd's CNI cache files of
     * this network.
     */
    @Override
    public void close() throws IOException {
        if (closed) {
            return;
        }
        closed = true;
        registry.locked(
                () -> {
                    RealNodeCleanup.removeNetwork(
                            registry,
                            NodeRecord.network("net-" + id, dir.toString(), bridge, subnet()));
                    return null;
                });
        RealNodeCleanup.deleteWorkDir(dir);
    }

    @Override
    public String toString() {
        return "PodNetwork[" + name() + " " + subnet() + " on " + bridge + "]";
    }
}
