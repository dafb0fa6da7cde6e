package dev.phoenix.local.realnode;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.phoenix.local.process.ManagedProcess;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One kubelet: its config file ({@code KubeletConfiguration v1beta1}) and process. Everything it
 * keeps lives under {@code <work>/kubelet} (root dir, certificates, pod logs, volume plugins), it
 * listens on the pod network's gateway address and on loopback only, and it changes as little of
 * the machine as the kubelet allows:
 *
 * <ul>
 *   <li>{@code failCgroupV1: false}: kubelet ≥ 1.35 refuses cgroup v1 otherwise; these VMs run v1
 *       controllers plus a cgroup2 {@code unified} hierarchy, which must not be remounted;
 *   <li>{@code cgroupRoot} is the node's own cgroup ({@link CgroupRoot}), so several kubelets never
 *       share {@code kubepods} and a stopped node's cgroups can be removed whole;
 *   <li>{@code makeIPTablesUtilChains: false}: no KUBE-FIREWALL (it drops non-loopback traffic to
 *       127/8) and no canary chains; {@code podLogsDir} and {@code volumePluginDir} moved off
 *       /var/log/pods and /usr/libexec;
 *   <li>image GC off (100 %): the images were imported, there is no registry to pull them again;
 *       eviction thresholds at the minimum, so a busy shared disk does not evict test pods;
 *   <li>authentication by client certificate (the cluster CA) and webhook, authorization by
 *       webhook: the API server reaches logs, exec and port-forward with its kubelet client
 *       certificate, nobody else does;
 *   <li>{@code clusterDNS} is the pod network's gateway, where {@link ClusterServices} runs CoreDNS
 *       (without it a lookup fails at once: nothing listens there); {@code resolvConf} (the
 *       upstream of {@code dnsPolicy: Default} pods) is a file in the work dir pointing at the
 *       pod's own loopback: pods never send DNS queries to the machine's resolvers (the network
 *       rule).
 * </ul>
 *
 * The kernel tunables it sets are saved and restored by {@link KernelTunables}.
 */
final class Kubelet implements AutoCloseable {
    private final Path dir;
    private final Path binary;
    private final String nodeName;
    private final String nodeIp;
    private final Path kubeconfig;
    private final Path clientCa;
    private final String runtimeEndpoint;
    private final String cgroupRoot;
    private final int port;
    private final int healthzPort;
    private final Map<String, String> labels;
    private final List<String> extraFlags;
    private ManagedProcess process;

    Kubelet(
            Path dir,
            Path binary,
            String nodeName,
            String nodeIp,
            Path kubeconfig,
            Path clientCa,
            String runtimeEndpoint,
            String cgroupRoot,
            Map<String, String> labels,
            List<String> extraFlags)
            throws IOException {
        this.dir = dir;
        this.binary = binary;
        this.nodeName = nodeName;
        this.nodeIp = nodeIp;
        this.kubeconfig = kubeconfig;
        this.clientCa = clientCa;
        this.runtimeEndpoint = runtimeEndpoint;
        this.cgroupRoot = cgroupRoot;
        this.labels = labels;
        this.extraFlags = extraFlags;
        this.port = ManagedProcess.freePort();
        this.healthzPort = ManagedProcess.freePort();
    }

    int port() {
        return port;
    }

    int healthzPort() {
        return healthzPort;
    }

    Path rootDir() {
        return dir.resolve("root");
    }

    Path podLogsDir() {
        return dir.resolve("pod-logs");
    }

    Path logFile() {
        return dir.getParent().resolve("logs/kubelet.log");
    }

    Map<String, Object> config() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("apiVersion", "kubelet.config.k8s.io/v1beta1");
        c.put("kind", "KubeletConfiguration");
        c.put("address", nodeIp);
        c.put("port", port);
        c.put("readOnlyPort", 0);
        c.put("healthzBindAddress", "127.0.0.1");
        c.put("healthzPort", healthzPort);
        c.put("containerRuntimeEndpoint", runtimeEndpoint);
        c.put("imageServiceEndpoint", runtimeEndpoint);
        c.put("failCgroupV1", false);
        c.put("cgroupDriver", "cgroupfs");
        c.put("cgroupRoot", cgroupRoot);
        c.put("cgroupsPerQOS", true);
        c.put("enforceNodeAllocatable", List.of("pods"));
        c.put("makeIPTablesUtilChains", false);
        c.put("podLogsDir", podLogsDir().toString());
        c.put("volumePluginDir", dir.resolve("volume-plugins").toString());
        c.put("resolvConf", dir.resolve("resolv.conf").toString());
        c.put("clusterDNS", List.of(nodeIp));
        c.put("clusterDomain", ClusterServices.CLUSTER_DOMAIN);
        c.put("imageGCHighThresholdPercent", 100);
        c.put("imageGCLowThresholdPercent", 99);
        c.put("imageMaximumGCAge", "0s");
        c.put(
                "evictionHard",
                Map.of(
                        "memory.available",
                        "1Mi",
                        "nodefs.available",
                        "1%",
                        "nodefs.inodesFree",
                        "1%",
                        "imagefs.available",
                        "1%",
                        "imagefs.inodesFree",
                        "1%"));
        c.put("mergeDefaultEvictionSettings", false);
        c.put("failSwapOn", false);
        c.put("oomScoreAdj", 0); // lowering it needs CAP_SYS_RESOURCE, which these VMs lack
        c.put("serializeImagePulls", false);
        c.put(
                "shutdownGracePeriod",
                "0s"); // graceful node shutdown needs systemd-logind inhibitors
        c.put(
                "authentication",
                Map.of(
                        "anonymous", Map.of("enabled", false),
                        "webhook", Map.of("enabled", true, "cacheTTL", "10s"),
                        "x509", Map.of("clientCAFile", clientCa.toString())));
        c.put(
                "authorization",
                Map.of(
                        "mode",
                        "Webhook",
                        "webhook",
                        Map.of("cacheAuthorizedTTL", "10s", "cacheUnauthorizedTTL", "5s")));
        c.put("registerNode", true);
        c.put("rotateCertificates", false);
        c.put("serverTLSBootstrap", false);
        c.put("enableSystemLogHandler", false);
        c.put("enableProfilingHandler", false);
        c.put("enableDebugFlagsHandler", false);
        return c;
    }

    Kubelet start() throws IOException {
        Files.createDirectories(rootDir());
        Files.createDirectories(podLogsDir());
        Files.createDirectories(dir.resolve("volume-plugins"));
        // The pod's own loopback: a lookup fails at once instead of leaving the machine.
        Files.writeString(
                dir.resolve("resolv.conf"), "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n");
        Path config = dir.resolve("config.yaml");
        new ObjectMapper(new YAMLFactory()).writeValue(config.toFile(), config());
        List<String> cmd =
                new ArrayList<>(
                        List.of(
                                binary.toString(),
                                "--config=" + config,
                                "--kubeconfig=" + kubeconfig,
                                "--root-dir=" + rootDir(),
                                "--cert-dir=" + dir.resolve("pki"),
                                "--hostname-override=" + nodeName,
                                "--node-ip=" + nodeIp,
                                "--v=2"));
        if (!labels.isEmpty()) {
            List<String> l = new ArrayList<>();
            labels.forEach((k, v) -> l.add(k + "=" + v));
            cmd.add("--node-labels=" + String.join(",", l));
        }
        cmd.addAll(extraFlags);
        Files.writeString(
                dir.resolve("command"), String.join(" ", cmd) + "\n", StandardCharsets.UTF_8);
        process =
                ManagedProcess.builder("kubelet", cmd)
                        .logFile(logFile())
                        .appendLog(true)
                        .workDir(dir)
                        .environment(env -> env.remove("KUBECONFIG"))
                        .start();
        return this;
    }

    /** Waits until /healthz on loopback answers 200. */
    void awaitHealthy(Duration timeout) throws IOException {
        process.awaitHttpOk(healthzPort, "/healthz", timeout);
    }

    boolean isRunning() {
        return process != null && process.isAlive();
    }

    String describeForError() {
        return process == null ? "kubelet not started" : process.describeForError();
    }

    long pid() {
        return process.pid();
    }

    @Override
    public void close() {
        if (process != null) {
            process.stop(10_000);
        }
    }

    /**
     * SIGKILL: the node stops heart-beating at once, its pods keep running until their runtime goes
     * too.
     */
    void kill() throws InterruptedException {
        if (process != null) {
            process.kill();
        }
    }
}
