package dev.phoenix.local.node;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.NodeCondition;
import io.fabric8.kubernetes.api.model.NodeConditionBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.Taint;
import io.fabric8.kubernetes.api.model.Toleration;
import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.fabric8.kubernetes.api.model.coordination.v1.LeaseBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import io.fabric8.kubernetes.client.http.HttpRequest;
import io.fabric8.kubernetes.client.http.HttpResponse;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.math.BigDecimal;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.ZonedDateTime;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * A local node agent that plays the kubelet against a real API server: registers a Node, keeps its
 * heartbeat (Lease + Ready condition), runs the containers of the pods bound to it as local processes
 * (in a private mount namespace with bubblewrap where available), reports pod status through the status
 * subresource and honours graceful deletion. Optionally it also binds unscheduled pods (for control planes
 * without a kube-scheduler).
 */
public final class LocalNode implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(LocalNode.class);
    public static final String GPU = "nvidia.com/gpu";
    static final String KUBELET_VERSION = "v1.20.2";

    private final KubernetesClient client;
    private final String nodeName;
    private final Map<String, Quantity> capacity;
    private final Map<String, String> labels;
    private final List<Taint> taints;
    private final Path workDir;
    private final ImageMapping images;
    private final Map<String, String> variables;
    private final boolean bindUnscheduledPods;
    private final String binderSchedulerName;
    private final boolean deleteNodeOnClose;
    private final Duration heartbeat;
    private final boolean bwrap;
    private final boolean serviceAccountTokens;
    private final long restartBackoffMillis;
    private final long tokenExpirationSeconds;
    private final long maxRestartBackoffMillis;
    private final byte[] caCert;
    private final PodVolumes volumes;
    private final EnvResolver env;

    private final Map<String, PodWorker> workers = new ConcurrentHashMap<>();
    private final Set<String> finalizing = ConcurrentHashMap.newKeySet();
    private final ScheduledExecutorService scheduler = Executors.newScheduledThreadPool(2, r -> {
        Thread t = new Thread(r);
        t.setDaemon(true);
        return t;
    });
    private SharedIndexInformer<Pod> podInformer;
    private Binder binder;
    private volatile boolean stopping;
    private volatile boolean dead;
    private volatile boolean heartbeating = true;
    private volatile boolean ready = true;

    private LocalNode(Builder b) {
        this.client = Objects.requireNonNull(b.client, "client");
        this.nodeName = b.name;
        this.capacity = new LinkedHashMap<>(b.capacity);
        this.labels = new LinkedHashMap<>(b.labels);
        this.taints = List.copyOf(b.taints);
        this.workDir = b.workDir != null ? b.workDir.toAbsolutePath() : defaultWorkDir(b.name);
        this.images = b.images != null ? b.images : ImageMapping.defaults();
        this.variables = Map.copyOf(b.variables);
        this.bindUnscheduledPods = b.bindUnscheduledPods;
        this.binderSchedulerName = b.binderSchedulerName;
        this.deleteNodeOnClose = b.deleteNodeOnClose;
        this.heartbeat = b.heartbeat;
        this.bwrap = b.useBwrap == null ? Sandbox.bwrapAvailable() : b.useBwrap && Sandbox.bwrapAvailable();
        this.serviceAccountTokens = b.serviceAccountTokens;
        this.restartBackoffMillis = b.restartBackoff.toMillis();
        this.tokenExpirationSeconds = b.tokenExpiration.toSeconds();
        this.maxRestartBackoffMillis = b.maxRestartBackoff.toMillis();
        this.caCert = b.caCertFile != null ? read(b.caCertFile) : caFromClient(client);
        this.volumes = new PodVolumes(client, workDir);
        this.env = new EnvResolver(client, capacity);
    }

    private static Path defaultWorkDir(String name) {
        String base = System.getenv("PHOENIX_LOCAL_NODE_DIR");
        if (base != null) {
            return Path.of(base).resolve(name);
        }
        return Path.of(System.getProperty("user.home"), ".cache", "phoenix", "nodes", name);
    }

    private static byte[] read(Path p) {
        try {
            return Files.readAllBytes(p);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static byte[] caFromClient(KubernetesClient client) {
        var cfg = client.getConfiguration();
        if (cfg.getCaCertData() != null && !cfg.getCaCertData().isEmpty()) {
            return Base64.getDecoder().decode(cfg.getCaCertData());
        }
        if (cfg.getCaCertFile() != null && Files.exists(Path.of(cfg.getCaCertFile()))) {
            return read(Path.of(cfg.getCaCertFile()));
        }
        return null;
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Builder of a {@link LocalNode}; {@link #start()} registers the node and starts it. */
    public static final class Builder {
        private KubernetesClient client;
        private String name = "local-node";
        private final Map<String, Quantity> capacity = new LinkedHashMap<>(Map.of(
                "cpu", new Quantity("8"), "memory", new Quantity("32Gi"), "pods", new Quantity("110"),
                "ephemeral-storage", new Quantity("100Gi")));
        private final Map<String, String> labels = new LinkedHashMap<>();
        private final List<Taint> taints = new ArrayList<>();
        private Path workDir;
        private ImageMapping images;
        private final Map<String, String> variables = new LinkedHashMap<>();
        private boolean bindUnscheduledPods;
        private String binderSchedulerName = "default-scheduler";
        private boolean deleteNodeOnClose;
        private Duration heartbeat = Duration.ofSeconds(5);
        private Boolean useBwrap;
        private boolean serviceAccountTokens = true;
        private Duration restartBackoff = Duration.ofSeconds(1);
        private Duration tokenExpiration = Duration.ofHours(24);
        private Duration maxRestartBackoff = Duration.ofSeconds(30);
        private Path caCertFile;

        /** The client the agent acts with (it needs node, lease, pod, pod/status, binding, configmap, secret and serviceaccount/token rights). */
        public Builder client(KubernetesClient client) {
            this.client = client;
            return this;
        }

        /** Node name; default {@code local-node}. */
        public Builder name(String name) {
            this.name = name;
            return this;
        }

        public Builder cpu(String cpu) {
            capacity.put("cpu", new Quantity(cpu));
            return this;
        }

        public Builder memory(String memory) {
            capacity.put("memory", new Quantity(memory));
            return this;
        }

        public Builder pods(int pods) {
            capacity.put("pods", new Quantity(Integer.toString(pods)));
            return this;
        }

        /** Advertise {@code nvidia.com/gpu: n} (0 removes it). */
        public Builder gpus(int n) {
            if (n <= 0) {
                capacity.remove(GPU);
            } else {
                capacity.put(GPU, new Quantity(Integer.toString(n)));
            }
            return this;
        }

        /** Any extended resource, e.g. {@code example.com/foo}. */
        public Builder capacity(String resource, String quantity) {
            capacity.put(resource, new Quantity(quantity));
            return this;
        }

        public Builder label(String key, String value) {
            labels.put(key, value);
            return this;
        }

        public Builder labels(Map<String, String> labels) {
            this.labels.putAll(labels);
            return this;
        }

        public Builder taint(String key, String value, String effect) {
            taints.add(new Taint(effect, key, null, value));
            return this;
        }

        /** Where pod directories, logs and PVC directories live; default {@code ~/.cache/phoenix/nodes/<name>}. */
        public Builder workDir(Path workDir) {
            this.workDir = workDir;
            return this;
        }

        /** The image mapping; default {@code images.yaml} from the classpath. */
        public Builder images(ImageMapping images) {
            this.images = images;
            return this;
        }

        /** A {@code ${NAME}} value for images.yaml (wins over system properties and the environment). */
        public Builder variable(String name, String value) {
            variables.put(name, value);
            return this;
        }

        /** Bind pending pods of the default scheduler to this node (when no kube-scheduler runs). */
        public Builder bindUnscheduledPods(boolean bind) {
            this.bindUnscheduledPods = bind;
            return this;
        }

        /** The schedulerName whose pods the binder binds; default {@code default-scheduler} (also matches pods without one). */
        public Builder binderSchedulerName(String schedulerName) {
            this.binderSchedulerName = schedulerName;
            return this;
        }

        /** Delete the Node object on {@link #close()}; default false. */
        public Builder deleteNodeOnClose(boolean delete) {
            this.deleteNodeOnClose = delete;
            return this;
        }

        /** Lease renewal and node status heartbeat period; default 5 s. */
        public Builder heartbeat(Duration heartbeat) {
            this.heartbeat = heartbeat;
            return this;
        }

        /** Force bubblewrap on/off; default: used when it works here. */
        public Builder useBwrap(boolean use) {
            this.useBwrap = use;
            return this;
        }

        /** Give pods a token of their ServiceAccount (TokenRequest), a kubeconfig and KUBECONFIG; default true. */
        public Builder serviceAccountTokens(boolean enabled) {
            this.serviceAccountTokens = enabled;
            return this;
        }

        /** Lifetime requested for the pods' ServiceAccount tokens (renewed at 60%); default 24 h, minimum 10 min. */
        public Builder tokenExpiration(Duration expiration) {
            this.tokenExpiration = expiration;
            return this;
        }

        /** Initial restart back-off (the kubelet uses 10 s); doubles up to {@link #maxRestartBackoff}. */
        public Builder restartBackoff(Duration initial) {
            this.restartBackoff = initial;
            return this;
        }

        public Builder maxRestartBackoff(Duration max) {
            this.maxRestartBackoff = max;
            return this;
        }

        /** CA of the API server written into the pods' kubeconfig; default: the client's CA. */
        public Builder caCertFile(Path caCertFile) {
            this.caCertFile = caCertFile;
            return this;
        }

        public LocalNode build() {
            return new LocalNode(this);
        }

        /** Builds, registers and starts the node. */
        public LocalNode start() {
            LocalNode n = build();
            n.start();
            return n;
        }
    }

    // ---- accessors used by workers, disruptions and tests ----

    public String name() {
        return nodeName;
    }

    public Path workDir() {
        return workDir;
    }

    public KubernetesClient client() {
        return client;
    }

    /** Whether containers run in a private mount namespace (bubblewrap). */
    public boolean useBwrap() {
        return bwrap;
    }

    public Map<String, Quantity> capacity() {
        return Map.copyOf(capacity);
    }

    /** The local directory of a PVC's volume (outlives pods). */
    public Path pvcDir(String namespace, String claimName) {
        return workDir.resolve("pvc").resolve(namespace).resolve(claimName);
    }

    /** The local directory of a pod's emptyDir (or configMap/secret/...) volume. */
    public Path volumeDir(Pod pod, String volumeName) {
        return podDir(pod).resolve("volumes").resolve(volumeName);
    }

    public Path podDir(Pod pod) {
        var md = pod.getMetadata();
        return workDir.resolve("pods").resolve(md.getNamespace() + "_" + md.getName() + "_" + md.getUid());
    }

    /** Log file of a container's current (or given) run: {@code <podDir>/logs/<container>/<restartCount>.log}. */
    public Path logFile(Pod pod, String container, int restartCount) {
        return podDir(pod).resolve("logs").resolve(container).resolve(restartCount + ".log");
    }

    /** The pod IP the agent gave to a pod it runs, or null. */
    public String podIP(String namespace, String name) {
        PodWorker w = worker(namespace, name);
        return w == null ? null : w.podIP();
    }

    PodWorker worker(String namespace, String name) {
        for (PodWorker w : workers.values()) {
            if (w.namespace.equals(namespace) && w.name.equals(name)) {
                return w;
            }
        }
        return null;
    }

    java.util.Collection<PodWorker> workers() {
        return workers.values();
    }

    PodVolumes volumes() {
        return volumes;
    }

    EnvResolver env() {
        return env;
    }

    ImageMapping images() {
        return images;
    }

    String variable(String name) {
        String v = variables.get(name);
        if (v == null) {
            v = System.getProperty(name);
        }
        if (v == null) {
            v = System.getenv(name);
        }
        return v;
    }

    String binderSchedulerName() {
        return binderSchedulerName;
    }

    String hostIP() {
        return "127.0.0.1";
    }

    String serverUrl() {
        String u = client.getMasterUrl().toString();
        return u.endsWith("/") ? u.substring(0, u.length() - 1) : u;
    }

    String serverHost() {
        return client.getMasterUrl().getHost();
    }

    int serverPort() {
        int p = client.getMasterUrl().getPort();
        return p > 0 ? p : client.getMasterUrl().getDefaultPort();
    }

    byte[] caCertBytes() {
        return caCert;
    }

    boolean serviceAccountTokens() {
        return serviceAccountTokens;
    }

    long tokenExpirationSeconds() {
        return tokenExpirationSeconds;
    }

    long restartBackoffMillis() {
        return restartBackoffMillis;
    }

    long maxRestartBackoffMillis() {
        return maxRestartBackoffMillis;
    }

    boolean stopping() {
        return stopping;
    }

    boolean dead() {
        return dead;
    }

    /** The environment every container starts from (the local "image" is the host). */
    Map<String, String> baseEnv() {
        Map<String, String> m = new LinkedHashMap<>();
        for (String k : List.of("PATH", "HOME", "LANG", "LC_ALL", "TZ", "JAVA_HOME", "USER", "TMPDIR")) {
            String v = System.getenv(k);
            if (v != null) {
                m.put(k, v);
            }
        }
        m.putIfAbsent("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        return m;
    }

    // ---- devices ----

    private final Map<Integer, String> gpuOwners = new LinkedHashMap<>();

    /** Number of nvidia.com/gpu this node advertises. */
    int gpuCount() {
        Quantity q = capacity.get(GPU);
        return q == null ? 0 : q.getNumericalAmount().intValue();
    }

    /**
     * The device plugin's part: hands out GPU indices (0..gpus-1) to a container; they go into
     * NVIDIA_VISIBLE_DEVICES / CUDA_VISIBLE_DEVICES. Fewer than asked only if the scheduler over-committed.
     */
    synchronized List<Integer> allocateGpus(String owner, int n) {
        List<Integer> out = new ArrayList<>();
        gpuOwners.forEach((i, o) -> {
            if (o.equals(owner)) {
                out.add(i);
            }
        });
        for (int i = 0; i < gpuCount() && out.size() < n; i++) {
            if (!gpuOwners.containsKey(i)) {
                gpuOwners.put(i, owner);
                out.add(i);
            }
        }
        if (out.size() < n) {
            log.warn("node {}: {} asked for {} GPUs, only {} free", nodeName, owner, n, out.size());
        }
        return out;
    }

    /** Releases every GPU of owners starting with {@code prefix} (a pod UID). */
    synchronized void releaseGpus(String prefix) {
        gpuOwners.values().removeIf(o -> o.startsWith(prefix));
    }

    // ---- lifecycle ----

    /** Registers the node, starts the heartbeat and the pod informer. */
    public synchronized LocalNode start() {
        try {
            Files.createDirectories(workDir);
            Files.writeString(workDir.resolve("agent.pid"), Long.toString(ProcessHandle.current().pid()));
            Files.writeString(workDir.resolve("node-name"), nodeName);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        register();
        renewLease();
        scheduler.scheduleWithFixedDelay(this::heartbeatQuietly, heartbeat.toMillis(), heartbeat.toMillis(), TimeUnit.MILLISECONDS);
        podInformer = client.pods().inAnyNamespace().withField("spec.nodeName", nodeName).inform(new ResourceEventHandler<>() {
            @Override
            public void onAdd(Pod pod) {
                podSeen(pod);
            }

            @Override
            public void onUpdate(Pod oldPod, Pod newPod) {
                podSeen(newPod);
            }

            @Override
            public void onDelete(Pod pod, boolean deletedFinalStateUnknown) {
                PodWorker w = workers.get(pod.getMetadata().getUid());
                if (w != null) {
                    w.vanished();
                }
                if (binder != null) {
                    binder.kick();
                }
            }
        }, 0);
        if (bindUnscheduledPods) {
            binder = new Binder(this);
            binder.start();
        }
        log.info("local node {} started (bwrap: {}, work dir {})", nodeName, bwrap, workDir);
        return this;
    }

    private void podSeen(Pod pod) {
        if (stopping || dead || !nodeName.equals(pod.getSpec().getNodeName())) {
            return;
        }
        String uid = pod.getMetadata().getUid();
        PodWorker w = workers.get(uid);
        if (w != null) {
            w.updated(pod);
            return;
        }
        String phase = pod.getStatus() == null ? null : pod.getStatus().getPhase();
        boolean terminal = "Succeeded".equals(phase) || "Failed".equals(phase);
        if (terminal || pod.getMetadata().getDeletionTimestamp() != null) {
            if (pod.getMetadata().getDeletionTimestamp() != null && finalizing.add(uid)) {
                // nothing runs (finished earlier, or never started here): finish the deletion now
                scheduler.execute(() -> {
                    finalizeDeletion(pod.getMetadata().getNamespace(), pod.getMetadata().getName(), uid);
                    finalizing.remove(uid);
                });
            }
            return;
        }
        w = new PodWorker(this, pod);
        if (workers.putIfAbsent(uid, w) == null) {
            Thread t = new Thread(w, "pod-" + pod.getMetadata().getName());
            t.setDaemon(true);
            t.start();
        }
        if (binder != null) {
            binder.kick();
        }
    }

    void workerFinished(PodWorker w) {
        workers.remove(w.uid, w);
        if (binder != null) {
            binder.kick();
        }
    }

    /** Pods this node currently accounts for (running workers). */
    List<Pod> activePods() {
        List<Pod> out = new ArrayList<>();
        for (PodWorker w : workers.values()) {
            if (!w.terminal()) {
                out.add(w.pod());
            }
        }
        return out;
    }

    /** The kubelet's final step: delete with grace period 0, precondition on the UID. */
    void finalizeDeletion(String namespace, String name, String uid) {
        if (dead) {
            return;
        }
        String body = "{\"kind\":\"DeleteOptions\",\"apiVersion\":\"v1\",\"gracePeriodSeconds\":0,\"preconditions\":{\"uid\":\"" + uid + "\"}}";
        String url = serverUrl() + "/api/v1/namespaces/" + namespace + "/pods/" + name;
        for (int i = 0; i < 10; i++) {
            try {
                HttpRequest req = client.getHttpClient().newHttpRequestBuilder().uri(URI.create(url))
                        .delete("application/json", body).build();
                HttpResponse<String> res = client.getHttpClient().sendAsync(req, String.class).get(30, TimeUnit.SECONDS);
                int code = res.code();
                if (code == 200 || code == 202 || code == 404 || code == 409) {
                    log.info("pod {}/{}: deletion finished ({})", namespace, name, code);
                    return;
                }
                log.warn("pod {}/{}: final delete answered {}: {}", namespace, name, code, res.body());
            } catch (Exception e) {
                log.warn("pod {}/{}: final delete failed: {}", namespace, name, e.toString());
            }
            try {
                Thread.sleep(500);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    // ---- node object and heartbeat ----

    private Map<String, String> allLabels() {
        Map<String, String> l = new LinkedHashMap<>();
        l.put("kubernetes.io/hostname", nodeName);
        l.put("kubernetes.io/os", "linux");
        l.put("kubernetes.io/arch", "amd64");
        l.put("beta.kubernetes.io/os", "linux");
        l.put("beta.kubernetes.io/arch", "amd64");
        l.put("phoenix.dev/local-node", "true");
        l.putAll(labels);
        return l;
    }

    private static String now() {
        return Instant.now().truncatedTo(ChronoUnit.SECONDS).toString();
    }

    private List<NodeCondition> conditions(List<NodeCondition> old) {
        String now = now();
        Map<String, NodeCondition> prev = new LinkedHashMap<>();
        if (old != null) {
            old.forEach(c -> prev.put(c.getType(), c));
        }
        List<NodeCondition> out = new ArrayList<>();
        out.add(nodeCond(prev, "MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available", now));
        out.add(nodeCond(prev, "DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure", now));
        out.add(nodeCond(prev, "PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available", now));
        out.add(ready ? nodeCond(prev, "Ready", "True", "KubeletReady", "kubelet is posting ready status", now)
                : nodeCond(prev, "Ready", "False", "KubeletNotReady", "node is shutting down", now));
        return out;
    }

    private static NodeCondition nodeCond(Map<String, NodeCondition> prev, String type, String status, String reason, String msg, String now) {
        NodeCondition p = prev.get(type);
        String transition = p != null && status.equals(p.getStatus()) && p.getLastTransitionTime() != null ? p.getLastTransitionTime() : now;
        return new NodeConditionBuilder().withType(type).withStatus(status).withReason(reason).withMessage(msg)
                .withLastHeartbeatTime(now).withLastTransitionTime(transition).build();
    }

    private Node desiredNode() {
        return new NodeBuilder()
                .withNewMetadata().withName(nodeName).withLabels(allLabels())
                .addToAnnotations("node.alpha.kubernetes.io/ttl", "0")
                .addToAnnotations("volumes.kubernetes.io/controller-managed-attach-detach", "true")
                .endMetadata()
                .withNewSpec().withTaints(taints.isEmpty() ? null : taints).endSpec()
                .withNewStatus()
                .withCapacity(capacity).withAllocatable(capacity)
                .withConditions(conditions(null))
                .addNewAddress().withType("InternalIP").withAddress("127.0.0.1").endAddress()
                .addNewAddress().withType("Hostname").withAddress(nodeName).endAddress()
                .withNewDaemonEndpoints().withNewKubeletEndpoint().withPort(10250).endKubeletEndpoint().endDaemonEndpoints()
                .withNewNodeInfo()
                .withArchitecture("amd64").withOperatingSystem("linux").withKubeletVersion(KUBELET_VERSION)
                .withKubeProxyVersion(KUBELET_VERSION).withContainerRuntimeVersion("phoenix-local://0.1.0")
                .withOsImage(System.getProperty("os.name") + " " + System.getProperty("os.version"))
                .withKernelVersion(System.getProperty("os.version")).withMachineID(nodeName).withSystemUUID(nodeName)
                .withBootID(Long.toString(ProcessHandle.current().pid()))
                .endNodeInfo()
                .endStatus().build();
    }

    private void register() {
        Node desired = desiredNode();
        Node existing = client.nodes().withName(nodeName).get();
        if (existing == null) {
            try {
                client.nodes().resource(desired).create();
                log.info("registered node {}", nodeName);
                return;
            } catch (KubernetesClientException e) {
                if (e.getCode() != 409) {
                    throw e;
                }
                existing = client.nodes().withName(nodeName).get();
            }
        }
        // re-registration: our labels, taints and status on the existing object
        for (int i = 0; i < 10; i++) {
            try {
                existing.getMetadata().getLabels().putAll(desired.getMetadata().getLabels());
                existing.getSpec().setTaints(desired.getSpec().getTaints());
                existing.getSpec().setUnschedulable(null);
                Node updated = client.nodes().resource(existing).update();
                desired.getStatus().setConditions(conditions(updated.getStatus() == null ? null : updated.getStatus().getConditions()));
                updated.setStatus(desired.getStatus());
                client.nodes().resource(updated).updateStatus();
                return;
            } catch (KubernetesClientException e) {
                if (e.getCode() != 409) {
                    throw e;
                }
                existing = client.nodes().withName(nodeName).get();
            }
        }
    }

    private void heartbeatQuietly() {
        try {
            heartbeat();
        } catch (Exception e) {
            log.warn("node {}: heartbeat failed: {}", nodeName, e.toString());
        }
    }

    private void heartbeat() {
        if (!heartbeating || dead || stopping) {
            return;
        }
        renewLease();
        for (PodWorker w : workers.values()) {
            w.refreshTokenIfDue();
        }
        for (int i = 0; i < 5; i++) {
            Node n = client.nodes().withName(nodeName).get();
            if (n == null) {
                log.info("node {} was deleted; registering again", nodeName);
                register();
                return;
            }
            n.getStatus().setConditions(conditions(n.getStatus().getConditions()));
            n.getStatus().setCapacity(capacity);
            n.getStatus().setAllocatable(capacity);
            try {
                client.nodes().resource(n).updateStatus();
                return;
            } catch (KubernetesClientException e) {
                if (e.getCode() != 409) {
                    throw e;
                }
            }
        }
    }

    private void renewLease() {
        ZonedDateTime renew = ZonedDateTime.now(java.time.ZoneOffset.UTC).truncatedTo(ChronoUnit.MICROS);
        var leases = client.leases().inNamespace("kube-node-lease");
        Lease l = leases.withName(nodeName).get();
        try {
            if (l == null) {
                Node n = client.nodes().withName(nodeName).get();
                LeaseBuilder b = new LeaseBuilder().withNewMetadata().withName(nodeName).withNamespace("kube-node-lease").endMetadata()
                        .withNewSpec().withHolderIdentity(nodeName).withLeaseDurationSeconds(40).withRenewTime(renew).endSpec();
                if (n != null) {
                    b.editMetadata().addNewOwnerReference().withApiVersion("v1").withKind("Node").withName(nodeName)
                            .withUid(n.getMetadata().getUid()).endOwnerReference().endMetadata();
                }
                leases.resource(b.build()).create();
            } else {
                l.getSpec().setRenewTime(renew);
                l.getSpec().setHolderIdentity(nodeName);
                leases.resource(l).update();
            }
        } catch (KubernetesClientException e) {
            if (e.getCode() == 404 && e.getMessage() != null && e.getMessage().contains("namespaces")) {
                try {
                    client.namespaces().resource(new io.fabric8.kubernetes.api.model.NamespaceBuilder()
                            .withNewMetadata().withName("kube-node-lease").endMetadata().build()).create();
                } catch (KubernetesClientException ignored) {
                    // created meanwhile
                }
                return;
            }
            if (e.getCode() != 409) {
                throw e;
            }
        }
    }

    // ---- disruptions ----

    /** Hard node loss: SIGKILL every process now, stop heart-beating, report nothing more. */
    void die() {
        dead = true;
        heartbeating = false;
        for (PodWorker w : workers.values()) {
            w.killHard();
        }
        if (binder != null) {
            binder.stop();
        }
        if (podInformer != null) {
            podInformer.stop();
        }
        scheduler.shutdownNow();
    }

    /** Graceful node shutdown (kubelet 1.21+ style). Blocks until every pod is terminated. */
    void shutdown(Duration grace) {
        List<PodWorker> ws = new ArrayList<>(workers.values());
        for (PodWorker w : ws) {
            w.shutdown(grace.toSeconds());
        }
        long deadline = System.currentTimeMillis() + grace.toMillis() + 30_000;
        while (ws.stream().anyMatch(w -> !w.done()) && System.currentTimeMillis() < deadline) {
            try {
                Thread.sleep(100);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
        ready = false;
        heartbeatQuietly();
        heartbeating = false;
        if (podInformer != null) {
            podInformer.stop();
        }
        if (binder != null) {
            binder.stop();
        }
    }

    /** Stops heart-beating without killing anything (the node looks lost to the control plane). */
    public void stopHeartbeat() {
        heartbeating = false;
    }

    public void resumeHeartbeat() {
        heartbeating = true;
    }

    // ---- fit (used by the binder) ----

    static Map<String, BigDecimal> requests(Pod pod) {
        Map<String, BigDecimal> sum = new LinkedHashMap<>();
        for (Container c : pod.getSpec().getContainers()) {
            add(sum, c, false);
        }
        if (pod.getSpec().getInitContainers() != null) {
            for (Container c : pod.getSpec().getInitContainers()) {
                Map<String, BigDecimal> one = new LinkedHashMap<>();
                add(one, c, false);
                one.forEach((k, v) -> sum.merge(k, v, BigDecimal::max));
            }
        }
        return sum;
    }

    private static void add(Map<String, BigDecimal> sum, Container c, boolean unused) {
        if (c.getResources() == null) {
            return;
        }
        Map<String, Quantity> req = c.getResources().getRequests();
        Map<String, Quantity> lim = c.getResources().getLimits();
        Map<String, Quantity> m = new LinkedHashMap<>();
        if (lim != null) {
            m.putAll(lim);
        }
        if (req != null) {
            m.putAll(req);
        }
        m.forEach((k, q) -> sum.merge(k, q.getNumericalAmount(), BigDecimal::add));
    }

    /** Why the pod does not fit this node, or null when it fits. */
    String unfit(Pod pod, List<Pod> assigned) {
        Map<String, String> l = allLabels();
        if (pod.getSpec().getNodeSelector() != null) {
            for (var e : pod.getSpec().getNodeSelector().entrySet()) {
                if (!e.getValue().equals(l.get(e.getKey()))) {
                    return "node(s) didn't match node selector";
                }
            }
        }
        for (Taint t : taints) {
            if (("NoSchedule".equals(t.getEffect()) || "NoExecute".equals(t.getEffect())) && !tolerates(pod.getSpec().getTolerations(), t)) {
                return "node(s) had taint {" + t.getKey() + ": " + t.getValue() + "}, that the pod didn't tolerate";
            }
        }
        Map<String, BigDecimal> used = new LinkedHashMap<>();
        int count = 0;
        for (Pod p : assigned) {
            count++;
            requests(p).forEach((k, v) -> used.merge(k, v, BigDecimal::add));
        }
        if (capacity.containsKey("pods") && count + 1 > capacity.get("pods").getNumericalAmount().intValue()) {
            return "Too many pods";
        }
        for (var e : requests(pod).entrySet()) {
            Quantity cap = capacity.get(e.getKey());
            BigDecimal have = cap == null ? BigDecimal.ZERO : cap.getNumericalAmount();
            if (e.getValue().signum() > 0 && used.getOrDefault(e.getKey(), BigDecimal.ZERO).add(e.getValue()).compareTo(have) > 0) {
                return "Insufficient " + e.getKey();
            }
        }
        return null;
    }

    private static boolean tolerates(List<Toleration> tolerations, Taint t) {
        if (tolerations == null) {
            return false;
        }
        for (Toleration tol : tolerations) {
            if (tol.getEffect() != null && !tol.getEffect().isEmpty() && !tol.getEffect().equals(t.getEffect())) {
                continue;
            }
            if ("Exists".equals(tol.getOperator())) {
                if (tol.getKey() == null || tol.getKey().isEmpty() || tol.getKey().equals(t.getKey())) {
                    return true;
                }
            } else if (Objects.equals(tol.getKey(), t.getKey()) && Objects.equals(Objects.toString(tol.getValue(), ""), Objects.toString(t.getValue(), ""))) {
                return true;
            }
        }
        return false;
    }

    /**
     * Stops the agent: kills the processes it started (they cannot outlive their "kubelet" here), stops
     * heart-beating; deletes the Node only if {@link Builder#deleteNodeOnClose} was set. Pod objects stay.
     */
    @Override
    public void close() {
        if (stopping) {
            return;
        }
        stopping = true;
        if (binder != null) {
            binder.stop();
        }
        if (podInformer != null) {
            podInformer.stop();
        }
        for (PodWorker w : workers.values()) {
            w.killHard();
        }
        scheduler.shutdownNow();
        if (deleteNodeOnClose && !dead) {
            try {
                client.nodes().withName(nodeName).delete();
                client.leases().inNamespace("kube-node-lease").withName(nodeName).delete();
            } catch (KubernetesClientException e) {
                log.warn("node {}: delete on close failed: {}", nodeName, e.getMessage());
            }
        }
    }

    static String utf8(byte[] b) {
        return new String(b, StandardCharsets.UTF_8);
    }
}
