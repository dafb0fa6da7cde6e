package dev.phoenix.local.realnode;

import dev.phoenix.local.controlplane.ControlPlane;
import dev.phoenix.local.process.ManagedProcess;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The two add-ons every cluster runs and that pods of real nodes need, started as the real
 * components:
 *
 * <ul>
 *   <li><b>kube-proxy</b> (iptables mode): the {@code kubernetes} Service's ClusterIP ({@code
 *       10.0.0.1:443}, what the kubelet puts into every pod's {@code KUBERNETES_SERVICE_HOST})
 *       reaches the API server, which must listen on the pod network's gateway ({@link
 *       ControlPlane.Builder#listenAddress}); the trainer's report client and an in-cluster
 *       operator use it;
 *   <li><b>CoreDNS</b> (the {@code kubernetes} plugin, nothing forwarded): ranks find each other by
 *       name ({@code MASTER_ADDR=<job>-worker-0.<job>}, the headless Service's per-pod records), on
 *       the gateway's port 53, which every kubelet of the network names as {@code clusterDNS}.
 * </ul>
 *
 * Both run as host processes (no DaemonSet or Deployment: this machine's nodes share one network
 * namespace, and there is no registry to pull their images from).
 *
 * <p>kube-proxy owns machine-wide iptables chains ({@code KUBE-SERVICES} …): one cluster per
 * machine may run it, a second {@link #start} fails naming the first. {@link #close()} and, after a
 * crash, the next node or network started on this machine run {@code kube-proxy --cleanup}, which
 * removes every rule it made. kube-proxy is told to leave the kernel's tunables alone (conntrack
 * limits and timeouts, {@code route_localnet}).
 */
public final class ClusterServices implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ClusterServices.class);
    public static final String CLUSTER_DOMAIN = "cluster.local";

    private final PodNetwork network;
    private final Path dir;
    private final HostRegistry registry;
    private final NodeRecord record;
    private final List<ManagedProcess> processes = new ArrayList<>();
    private ManagedProcess proxy;
    private ManagedProcess dns;
    private int proxyHealthPort;
    private int dnsReadyPort;
    private volatile boolean closed;

    private ClusterServices(
            PodNetwork network, Path dir, HostRegistry registry, NodeRecord record) {
        this.network = network;
        this.dir = dir;
        this.registry = registry;
        this.record = record;
    }

    /**
     * Starts kube-proxy and CoreDNS for {@code cp}'s pods on {@code network}, in {@code <network
     * dir>/services}; {@link #awaitReady} waits until both serve. kube-proxy runs as the proxy of
     * node {@code nodeName} (it waits up to 30 s for that Node to exist, so start the node
     * meanwhile); all nodes of this machine share one network namespace, so its rules serve every
     * node's pods.
     */
    public static ClusterServices start(ControlPlane cp, PodNetwork network, String nodeName)
            throws IOException {
        if (cp.listenAddress().startsWith("127.")) {
            throw new IllegalArgumentException(
                    "the control plane listens on "
                            + cp.listenAddress()
                            + ": pods cannot "
                            + "reach it; build it with listenAddress(network.nodeIp())");
        }
        HostRegistry registry = network.registry();
        Path dir = network.dir().resolve("services");
        String id =
                "services-"
                        + HexFormat.of()
                                .toHexDigits(ThreadLocalRandom.current().nextInt())
                                .substring(0, 8);
        NodeRecord record = NodeRecord.services(id, dir.toString(), cp.binDir().toString());
        registry.locked(
                () -> {
                    RealNodeCleanup.cleanOrphans(registry);
                    for (NodeRecord r : registry.nodes()) {
                        if (NodeRecord.SERVICES.equals(r.kind()) && r.ownerAlive()) {
                            throw new IllegalStateException(
                                    "another local cluster (pid "
                                            + r.ownerPid()
                                            + ", "
                                            + r.workDir()
                                            + ") runs this machine's kube-proxy, whose iptables chains are machine-wide: stop it first");
                        }
                    }
                    Files.createDirectories(dir);
                    Files.writeString(dir.resolve(RealNodeCleanup.WORK_DIR_MARKER), id + "\n");
                    // kube-proxy creates the kubelet's KUBE-FIREWALL chain and its jumps and, by
                    // design, never removes them
                    // (--cleanup leaves them for the kubelet): note which table lacked it, so the
                    // cleanup removes only ours.
                    for (String tool : RealNodeCleanup.IPTABLES) {
                        if (!Commands.run(
                                        30,
                                        List.of(tool, "-w", "-S", RealNodeCleanup.KUBE_FIREWALL))
                                .ok()) {
                            Files.writeString(
                                    dir.resolve(RealNodeCleanup.CREATED_FIREWALL_PREFIX + tool),
                                    "");
                        }
                    }
                    registry.writeNode(
                            record); // before kube-proxy writes a rule: a crash from here on is
                    // cleaned up
                    return null;
                });
        ClusterServices s = new ClusterServices(network, dir, registry, record);
        try {
            long t0 = System.nanoTime();
            Path kubeconfig = dir.resolve("kubeconfig");
            Files.copy(
                    cp.kubeconfigPath(),
                    kubeconfig,
                    java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            s.startProxy(cp.binDir().resolve("kube-proxy"), kubeconfig, nodeName);
            s.startDns(cp.binDir().resolve("coredns"), kubeconfig);
            LOG.info(
                    "kube-proxy (node {}) and CoreDNS ({}:53) started in {} ms",
                    nodeName,
                    network.nodeIp(),
                    (System.nanoTime() - t0) / 1_000_000);
            return s;
        } catch (IOException | RuntimeException e) {
            s.close();
            throw e;
        }
    }

    /**
     * Waits until kube-proxy has synced its rules once ({@code /livez}: {@code /healthz} also wants
     * its Node, which a test may have deleted) and CoreDNS has synced with the API server ({@code
     * /ready}).
     */
    public ClusterServices awaitReady(Duration timeout) throws IOException {
        long t0 = System.nanoTime();
        proxy.awaitHttpOk(proxyHealthPort, "/livez", timeout);
        dns.awaitHttpOk(dnsReadyPort, "/ready", timeout.minusNanos(System.nanoTime() - t0));
        LOG.info("kube-proxy and CoreDNS serving ({} ms)", (System.nanoTime() - t0) / 1_000_000);
        return this;
    }

    private void startProxy(Path binary, Path kubeconfig, String nodeName) throws IOException {
        int healthz = ManagedProcess.freePort();
        String gw = network.nodeIp();
        ManagedProcess p =
                ManagedProcess.builder(
                                "kube-proxy",
                                List.of(
                                        binary.toString(),
                                        "--kubeconfig=" + kubeconfig,
                                        "--proxy-mode=iptables",
                                        "--hostname-override=" + nodeName,
                                        "--bind-address=" + gw,
                                        "--nodeport-addresses=" + gw + "/32",
                                        "--healthz-bind-address=127.0.0.1:" + healthz,
                                        "--metrics-bind-address=127.0.0.1:"
                                                + ManagedProcess.freePort(),
                                        // the machine's tunables stay as they are: no conntrack
                                        // limits or timeouts, no route_localnet
                                        "--conntrack-max-per-core=0",
                                        "--conntrack-tcp-timeout-established=0s",
                                        "--conntrack-tcp-timeout-close-wait=0s",
                                        "--iptables-localhost-nodeports=false",
                                        "--oom-score-adj=0", // lowering it needs CAP_SYS_RESOURCE,
                                        // which these VMs lack
                                        "--v=2"))
                        .workDir(dir)
                        .logFile(dir.resolve("kube-proxy.log"))
                        .environment(env -> env.remove("KUBECONFIG"))
                        .start();
        processes.add(p);
        proxy = p;
        proxyHealthPort = healthz;
    }

    private void startDns(Path binary, Path kubeconfig) throws IOException {
        int ready = ManagedProcess.freePort();
        String corefile =
                """
        .:53 {
            bind %s
            ready 127.0.0.1:%d
            errors
            log
            cache 5
            kubernetes %s in-addr.arpa {
                kubeconfig %s
                pods insecure
                ttl 5
            }
        }
        """
                        .formatted(network.nodeIp(), ready, CLUSTER_DOMAIN, kubeconfig);
        Path conf = dir.resolve("Corefile");
        Files.writeString(conf, corefile, StandardCharsets.UTF_8);
        ManagedProcess p =
                ManagedProcess.builder(
                                "coredns", List.of(binary.toString(), "-conf", conf.toString()))
                        .workDir(dir)
                        .logFile(dir.resolve("coredns.log"))
                        .environment(env -> env.remove("KUBECONFIG"))
                        .start();
        processes.add(p);
        dns = p;
        dnsReadyPort = ready;
    }

    /** The cluster DNS server's address (the gateway: every kubelet's {@code clusterDNS}). */
    public String dnsIp() {
        return network.nodeIp();
    }

    public Path logDir() {
        return dir;
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        for (ManagedProcess p : processes) {
            p.stop(5_000);
        }
        try {
            registry.locked(
                    () -> {
                        RealNodeCleanup.removeServices(registry, record);
                        return null;
                    });
        } catch (IOException e) {
            LOG.warn("cleaning up kube-proxy and CoreDNS of {}: {}", dir, e.toString());
        }
    }
}
