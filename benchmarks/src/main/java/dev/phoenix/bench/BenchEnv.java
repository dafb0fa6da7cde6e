package dev.phoenix.bench;

import dev.phoenix.e2e.PhoenixStack;
import dev.phoenix.local.controlplane.ControlPlane;
import dev.phoenix.local.kwok.Kwok;
import dev.phoenix.local.realnode.ClusterServices;
import dev.phoenix.local.realnode.PodNetwork;
import dev.phoenix.local.realnode.RealNode;
import dev.phoenix.operator.PhoenixOperator;
import dev.phoenix.operator.config.OperatorConfig;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.Watch;
import io.fabric8.kubernetes.client.Watcher;
import io.fabric8.kubernetes.client.WatcherException;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * The pieces every benchmark shares: a real control plane, the committed CRD, an operator, clocks.
 */
public final class BenchEnv implements AutoCloseable {
    public final ControlPlane cp;
    public final KubernetesClient admin;
    private final List<AutoCloseable> closeables = new ArrayList<>();

    /** Closed after the control plane (the pod network it listens on). */
    private final List<AutoCloseable> after = new ArrayList<>();

    private BenchEnv(ControlPlane cp) {
        this.cp = cp;
        this.admin = cp.adminClient();
    }

    /**
     * API server + etcd + scheduler (it binds the simulated pods to KWOK's node) + controller
     * manager: on 1.37 a new Node carries the {@code node.kubernetes.io/not-ready:NoSchedule} taint
     * until the node-lifecycle controller removes it, so without one nothing is ever scheduled.
     */
    public static BenchEnv start() throws IOException {
        return start(List.of());
    }

    /** {@link #start()} with more kube-apiserver flags (the audit log of {@link AuditLog}). */
    public static BenchEnv start(List<String> apiServerFlags) throws IOException {
        return start(apiServerFlags, b -> {});
    }

    /** {@link #start(List)}, the control plane further set up by {@code more}. */
    public static BenchEnv start(
            List<String> apiServerFlags, java.util.function.Consumer<ControlPlane.Builder> more)
            throws IOException {
        long t0 = System.nanoTime();
        ControlPlane.Builder b =
                ControlPlane.builder().withScheduler(true).withControllerManager(true);
        apiServerFlags.forEach(b::apiServerFlag);
        more.accept(b);
        ControlPlane cp = b.build().start();
        BenchEnv env = new BenchEnv(cp);
        PhoenixStack.installCrd(env.admin);
        log("control plane + CRD ready in %d ms (%s)", ms(t0), cp.masterUrl());
        return env;
    }

    /**
     * A cluster for real pods: the control plane (with the controller manager: pods need
     * ServiceAccount tokens) on a pod network's gateway, kube-proxy and CoreDNS, and one real node
     * (kubelet + containerd) named {@code node} with the trainer image and {@code gpus}
     * nvidia.com/gpu.
     */
    public static BenchEnv startWithRealNode(String node, int gpus) throws IOException {
        long t0 = System.nanoTime();
        PodNetwork net = PodNetwork.create(Files.createTempDirectory("phoenix-bench-net-"));
        ControlPlane cp;
        try {
            cp = ControlPlane.builder().listenAddress(net.nodeIp()).build().start();
        } catch (RuntimeException e) {
            net.close();
            throw e;
        }
        BenchEnv env = new BenchEnv(cp);
        env.after.add(net);
        try {
            ClusterServices services = ClusterServices.start(cp, net, node);
            env.closeables.add(services);
            PhoenixStack.installCrd(env.admin);
            RealNode n =
                    RealNode.builder()
                            .controlPlane(cp)
                            .name(node)
                            .network(net)
                            .image(PhoenixStack.trainerImageArchive())
                            .extendedResource("nvidia.com/gpu", Integer.toString(gpus))
                            .start();
            env.closeables.add(0, n);
            services.awaitReady(java.time.Duration.ofMinutes(2));
            log(
                    "control plane, kube-proxy, CoreDNS, CRD and node %s (started in %d ms) ready in %d ms",
                    node, n.startTime().toMillis(), ms(t0));
        } catch (IOException | RuntimeException e) {
            env.close();
            throw e;
        }
        return env;
    }

    /** KWOK with one simulated node, closed with this environment. */
    public Kwok kwok() {
        Kwok kwok = Kwok.start(cp);
        closeables.add(0, kwok);
        // GPUs for every simulated worker: the job template asks for one each, as on a GPU cluster
        kwok.addNode(
                "kwok-bench", java.util.Map.of("nvidia.com/gpu", "100000"), java.util.Map.of());
        return kwok;
    }

    public String namespace(String name) {
        admin.namespaces()
                .resource(
                        new NamespaceBuilder()
                                .withNewMetadata()
                                .withName(name)
                                .endMetadata()
                                .build())
                .create();
        return name;
    }

    /** A new admin client whose requests are counted by {@code counter} (null: not counted). */
    public KubernetesClient client(RequestCounter counter) {
        return client(counter, null);
    }

    /**
     * An admin client that sends {@code userAgent} (null: Fabric8's), so the API server's audit log
     * tells this client's requests from the others'.
     */
    public KubernetesClient client(RequestCounter counter, String userAgent) {
        Config c = cp.adminConfig();
        if (userAgent != null) {
            c.setUserAgent(userAgent);
        }
        KubernetesClientBuilder b = new KubernetesClientBuilder().withConfig(c);
        if (counter != null) {
            b.withHttpClientBuilderConsumer(
                    h -> h.addOrReplaceInterceptor("phoenix-bench-counter", counter));
        }
        KubernetesClient client = b.build();
        closeables.add(client);
        return client;
    }

    /** The real operator, in this JVM, on its own client; leader election off (one replica). */
    public PhoenixOperator operator(KubernetesClient client) throws IOException {
        PhoenixOperator op =
                PhoenixOperator.start(
                        client, new OperatorConfig().withLeaderElection(false).withHttpPort(0));
        closeables.add(0, op);
        return op;
    }

    /**
     * The floor for any operator: how long the API server takes from a write request being issued
     * to a watcher seeing it (request + etcd commit + watch cache + delivery). Creates {@code n}
     * ConfigMaps.
     */
    public Stats watchDelivery(String ns, int n) throws InterruptedException {
        Map<String, Long> issued = new ConcurrentHashMap<>();
        Map<String, Long> seen = new ConcurrentHashMap<>();
        try (Watch w =
                admin.configMaps()
                        .inNamespace(ns)
                        .withLabel("phoenix.dev/bench", "watch-floor")
                        .watch(
                                new Watcher<>() {
                                    @Override
                                    public void eventReceived(Action action, ConfigMap cm) {
                                        if (action == Action.ADDED) {
                                            seen.putIfAbsent(
                                                    cm.getMetadata().getName(), System.nanoTime());
                                        }
                                    }

                                    @Override
                                    public void onClose(WatcherException cause) {}
                                })) {
            Thread.sleep(300);
            for (int i = 0; i < n; i++) {
                String name = "watch-floor-" + i;
                issued.put(name, System.nanoTime());
                admin.configMaps()
                        .inNamespace(ns)
                        .resource(
                                new ConfigMapBuilder()
                                        .withNewMetadata()
                                        .withName(name)
                                        .addToLabels("phoenix.dev/bench", "watch-floor")
                                        .endMetadata()
                                        .addToData("i", Integer.toString(i))
                                        .build())
                        .create();
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
                while (!seen.containsKey(name) && System.nanoTime() < deadline) {
                    Thread.sleep(0, 200_000);
                }
                Thread.sleep(20);
            }
        }
        List<Double> lat = new ArrayList<>();
        issued.forEach(
                (k, t) -> {
                    Long s = seen.get(k);
                    if (s != null) {
                        lat.add((s - t) / 1e6);
                    }
                });
        admin.configMaps().inNamespace(ns).withLabel("phoenix.dev/bench", "watch-floor").delete();
        return Stats.of(lat);
    }

    @Override
    public void close() {
        for (AutoCloseable c : closeables) {
            try {
                c.close();
            } catch (Exception e) {
                log("closing %s: %s", c, e);
            }
        }
        cp.close();
        for (AutoCloseable c : after) {
            try {
                c.close();
            } catch (Exception e) {
                log("closing %s: %s", c, e);
            }
        }
    }

    // ---- helpers ----

    public static long ms(long t0) {
        return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
    }

    public static void log(String fmt, Object... args) {
        System.out.printf(Locale.ROOT, "[%tT] " + fmt + "%n", prepend(new java.util.Date(), args));
        System.out.flush();
    }

    private static Object[] prepend(Object first, Object[] rest) {
        Object[] all = new Object[rest.length + 1];
        all[0] = first;
        System.arraycopy(rest, 0, all, 1, rest.length);
        return all;
    }

    public static double processCpuSeconds() {
        var os = ManagementFactory.getOperatingSystemMXBean();
        if (os instanceof com.sun.management.OperatingSystemMXBean s) {
            return s.getProcessCpuTime() / 1e9;
        }
        return Double.NaN;
    }

    /** One line describing the machine: nproc, CPU model, memory, load. */
    public static String machine() {
        String cpu = "?";
        String mem = "?";
        try {
            cpu =
                    Files.readAllLines(Path.of("/proc/cpuinfo")).stream()
                            .filter(l -> l.startsWith("model name"))
                            .map(l -> l.substring(l.indexOf(':') + 1).strip())
                            .findFirst()
                            .orElse("?");
            mem =
                    Files.readAllLines(Path.of("/proc/meminfo")).stream()
                            .filter(l -> l.startsWith("MemTotal"))
                            .map(
                                    l ->
                                            String.format(
                                                    Locale.ROOT,
                                                    "%.1f GiB",
                                                    Long.parseLong(l.replaceAll("\\D+", ""))
                                                            / 1048576.0))
                            .findFirst()
                            .orElse("?");
        } catch (IOException | RuntimeException ignored) {
            // best effort
        }
        String load = "?";
        try {
            load = Files.readString(Path.of("/proc/loadavg")).strip();
        } catch (IOException ignored) {
            // best effort
        }
        return String.format(
                Locale.ROOT,
                "%d vCPU (%s), %s RAM, load average at start %s, Java %s",
                Runtime.getRuntime().availableProcessors(),
                cpu,
                mem,
                load,
                System.getProperty("java.version"));
    }
}
