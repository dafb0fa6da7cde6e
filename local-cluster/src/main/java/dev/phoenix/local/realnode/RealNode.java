package dev.phoenix.local.realnode;

import dev.phoenix.local.controlplane.ControlPlane;
import dev.phoenix.local.controlplane.KubernetesBinaries;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeCondition;
import io.fabric8.kubernetes.api.model.rbac.ClusterRoleBindingBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A real Kubernetes node on this machine: a kubelet (the control plane's release) on its own
 * containerd + runc, attached to a {@link PodNetwork}, joining the control plane as {@code
 * system:node:<name>}.
 *
 * <pre>{@code
 * try (PodNetwork net = PodNetwork.create(dir.resolve("net"));
 *      RealNode a = RealNode.builder().controlPlane(cp).name("node-a").network(net)
 *          .image(Path.of("trainer-image/target/jib-image.tar")).start();
 *      RealNode b = RealNode.builder().controlPlane(cp).name("node-b").network(net).start()) {
 *   ... pods with imagePullPolicy: Never ...
 * }
 * }</pre>
 *
 * <p>Each node has its own work dir (default a new {@code /tmp/phx-node-*}: containerd's socket
 * path must stay under 108 bytes), kubelet ports, containerd and cgroup root. What it changes
 * outside the work dir, and how it is undone on {@link #close()} or, after a crash, by the next
 * node started on this machine: see {@link RealNodeCleanup} and local-cluster/README.md ("Real
 * node").
 */
public final class RealNode implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(RealNode.class);

    /**
     * Host directories the kubelet, containerd, its shims or CNI create when missing (and nobody
     * removes).
     */
    static final List<Path> HOST_DIRS =
            List.of(
                    Path.of("/run/containerd"),
                    Path.of("/run/containerd/s"),
                    Path.of("/var/lib/cni"),
                    Path.of("/var/lib/cni/results"),
                    RealNodeCleanup.CONTAINER_LOG_LINKS,
                    Path.of("/var/log/pods"),
                    Path.of("/run/netns"),
                    Path.of("/opt/containerd"),
                    Path.of("/var/run/nri"),
                    Path.of("/usr/libexec/kubernetes"),
                    Path.of("/var/lib/kubelet"),
                    Path.of("/var/lib/kubelet/device-plugins"),
                    Path.of("/etc/kubernetes"),
                    Path.of("/var/lib/containerd"),
                    Path.of("/etc/containerd"));

    /** The CN of the client certificate ControlPlane's API server presents to kubelets. */
    static final String KUBELET_CLIENT_USER = "kube-apiserver";

    private final Builder options;
    private final String id;
    private final Path workDir;
    private final HostRegistry registry;
    private NodeRecord record;
    private PodNetwork network;
    private boolean ownsNetwork;
    private ContainerRuntime runtime;
    private Kubelet kubelet;
    private Duration startTime;
    private volatile boolean closed;

    private RealNode(Builder b) throws IOException {
        this.options = b;
        this.id = HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextInt()).substring(0, 8);
        this.registry = b.registry != null ? b.registry : HostRegistry.machine();
        if (b.workDir != null) {
            Path w = b.workDir.toAbsolutePath().normalize();
            if (Files.isDirectory(w) && !Files.exists(w.resolve(RealNodeCleanup.WORK_DIR_MARKER))) {
                try (var s = Files.list(w)) {
                    if (s.findAny().isPresent()) {
                        throw new IllegalArgumentException(
                                "workDir "
                                        + w
                                        + " is not empty and not a RealNode's: refusing to use it");
                    }
                }
            }
            this.workDir = w;
        } else {
            this.workDir = Files.createTempDirectory("phx-node-").toAbsolutePath();
        }
    }

    public static Builder builder() {
        return new Builder();
    }

    private RealNode startNode() throws IOException {
        long t0 = System.nanoTime();
        Path binDir = options.binDir != null ? options.binDir : NodeBinaries.locate();
        Path kubeletBinary =
                options.kubeletBinary != null
                        ? options.kubeletBinary
                        : KubernetesBinaries.locate().resolve("kubelet");
        if (!Files.isExecutable(kubeletBinary)) {
            throw new IllegalStateException("no kubelet at " + kubeletBinary);
        }
        if (options.kubeconfig == null || options.clientCa == null || options.client == null) {
            throw new IllegalStateException(
                    "RealNode needs controlPlane(cp), or kubeconfig(..), clientCa(..) and client(..)");
        }
        CgroupRoot cgroup = CgroupRoot.forNode(id);
        record =
                NodeRecord.node("node-" + id, workDir.toString(), cgroup.path(), binDir.toString());
        registry.locked(
                () -> {
                    RealNodeCleanup.cleanOrphans(registry);
                    // A previous node's dir (the constructor checked the marker): after the orphan
                    // cleanup above unmounted
                    // what a crashed one left, delete it; never while anything is mounted below it.
                    if (Files.exists(workDir) && !RealNodeCleanup.deleteWorkDir(workDir)) {
                        throw new IOException("work dir " + workDir + " still has mounts below it");
                    }
                    Files.createDirectories(workDir.resolve("logs"));
                    Files.writeString(
                            workDir.resolve(RealNodeCleanup.WORK_DIR_MARKER), options.name + "\n");
                    registry.writeNode(
                            record); // before anything changes: a crash from here on is cleaned up
                    registry.noteIfAbsent(HOST_DIRS);
                    KernelTunables.saveIfFirst(registry);
                    cgroup.create(registry);
                    return null;
                });
        try {
            if (options.network != null) {
                network = options.network;
            } else {
                network = PodNetwork.create(workDir.resolve("network"), registry);
                ownsNetwork = true;
            }
            runtime =
                    new ContainerRuntime(workDir.resolve("containerd"), binDir, network.confDir())
                            .start(Duration.ofSeconds(60));
            runtime.importImage(binDir.resolve("pause.oci.tar"));
            for (Path image : options.images) {
                importImage(image);
            }
            long tRuntime = System.nanoTime();
            allowApiServerIntoKubelets();
            Path kubeconfig =
                    options.kubeconfig.apply(options.name, workDir.resolve("kubelet/kubeconfig"));
            kubelet =
                    new Kubelet(
                                    workDir.resolve("kubelet"),
                                    kubeletBinary,
                                    options.name,
                                    network.nodeIp(),
                                    kubeconfig,
                                    options.clientCa,
                                    runtime.endpoint(),
                                    cgroup.path(),
                                    options.labels,
                                    options.kubeletFlags)
                            .start();
            kubelet.awaitHealthy(options.startTimeout);
            awaitReady(options.startTimeout);
            if (!options.extendedResources.isEmpty()) {
                advertise(options.extendedResources);
            }
            startTime = Duration.ofNanos(System.nanoTime() - t0);
            LOG.info(
                    "node {} Ready in {} ms (containerd + {} images {} ms, kubelet {} ms); kubelet {}:{}, work dir {}",
                    options.name,
                    startTime.toMillis(),
                    1 + options.images.size(),
                    (tRuntime - t0) / 1_000_000,
                    (System.nanoTime() - tRuntime) / 1_000_000,
                    network.nodeIp(),
                    kubelet.port(),
                    workDir);
            return this;
        } catch (IOException | RuntimeException e) {
            String why = kubelet != null ? kubelet.describeForError() : "";
            close();
            throw new IOException(
                    "node " + options.name + " did not start: " + e.getMessage() + "\n" + why, e);
        }
    }

    /**
     * The kubelet authorizes the API server's requests (logs, exec, port-forward) by
     * SubjectAccessReview: its identity, {@link #KUBELET_CLIENT_USER}, needs the bootstrap role
     * {@code system:kubelet-api-admin}, as kubeadm binds it at cluster creation.
     */
    private void allowApiServerIntoKubelets() {
        options.client
                .rbac()
                .clusterRoleBindings()
                .resource(
                        new ClusterRoleBindingBuilder()
                                .withNewMetadata()
                                .withName("phoenix:kube-apiserver-kubelet-client")
                                .endMetadata()
                                .withNewRoleRef()
                                .withApiGroup("rbac.authorization.k8s.io")
                                .withKind("ClusterRole")
                                .withName("system:kubelet-api-admin")
                                .endRoleRef()
                                .addNewSubject()
                                .withApiGroup("rbac.authorization.k8s.io")
                                .withKind("User")
                                .withName(KUBELET_CLIENT_USER)
                                .endSubject()
                                .build())
                .serverSideApply();
    }

    private void awaitReady(Duration timeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            Node n = options.client.nodes().withName(options.name).get();
            if (n != null && n.getStatus() != null && n.getStatus().getConditions() != null) {
                for (NodeCondition c : n.getStatus().getConditions()) {
                    if ("Ready".equals(c.getType()) && "True".equals(c.getStatus())) {
                        return;
                    }
                }
            }
            if (!kubelet.isRunning()) {
                throw new IOException("kubelet exited before node " + options.name + " was Ready");
            }
            if (System.nanoTime() > deadline) {
                throw new IOException("node " + options.name + " not Ready after " + timeout);
            }
            try {
                Thread.sleep(200);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted", e);
            }
        }
    }

    /**
     * Adds extended resources (e.g. {@code nvidia.com/gpu}) to the Node's capacity, the documented
     * way to advertise a resource no device plugin manages; the kubelet keeps them and derives
     * allocatable from them. Pods requesting them are scheduled and admitted; no device is handed
     * to the container.
     */
    public void advertise(Map<String, String> resources) {
        String quantities =
                resources.entrySet().stream()
                        .map(e -> "\"" + e.getKey() + "\":\"" + e.getValue() + "\"")
                        .collect(Collectors.joining(","));
        options.client
                .nodes()
                .withName(options.name)
                .subresource("status")
                .patch(
                        PatchContext.of(PatchType.JSON_MERGE),
                        "{\"status\":{\"capacity\":{"
                                + quantities
                                + "},\"allocatable\":{"
                                + quantities
                                + "}}}");
    }

    /**
     * {@code ctr images import} into this node's containerd (a Jib {@code buildTar} archive, an OCI
     * archive).
     */
    public List<String> importImage(Path archive) throws IOException {
        long t0 = System.nanoTime();
        List<String> out = runtime.importImage(archive);
        LOG.info(
                "node {}: imported {} in {} ms",
                options.name,
                archive.getFileName(),
                (System.nanoTime() - t0) / 1_000_000);
        return out;
    }

    /** Image references this node's containerd holds (CRI namespace). */
    public List<String> images() throws IOException {
        return runtime.images();
    }

    public String name() {
        return options.name;
    }

    public Path workDir() {
        return workDir;
    }

    public PodNetwork network() {
        return network;
    }

    /** From start() to the Node being Ready (containerd, image imports and kubelet included). */
    public Duration startTime() {
        return startTime;
    }

    public Path kubeletLog() {
        return workDir.resolve("logs/kubelet.log");
    }

    public Path containerdLog() {
        return workDir.resolve("logs/containerd.log");
    }

    /** The kubelet's HTTPS port on {@link PodNetwork#nodeIp()}. */
    public int kubeletPort() {
        return kubelet.port();
    }

    /** The kubelet's cgroupRoot (the node's cgroup in every hierarchy). */
    public String cgroupRoot() {
        return record.cgroupRoot();
    }

    /** crictl against this node's containerd, for tests and debugging. */
    public String crictl(String... args) throws IOException {
        Commands.Result r = runtime.crictl(List.of(args));
        if (!r.ok()) {
            throw new IOException("crictl " + String.join(" ", args) + ": " + r.output().strip());
        }
        return r.output();
    }

    /**
     * SIGKILL to the main process of a pod's running container on this node, as a crash or the OOM
     * killer does: the kubelet sees it exit 137 and, for a {@code restartPolicy: Never} pod, marks
     * the pod Failed.
     */
    public void killContainer(String namespace, String pod, String container) throws IOException {
        String id =
                crictl(
                                "ps",
                                "-q",
                                "--state",
                                "Running",
                                "--label",
                                "io.kubernetes.pod.namespace=" + namespace,
                                "--label",
                                "io.kubernetes.pod.name=" + pod,
                                "--name",
                                "^" + container + "$")
                        .strip();
        if (id.isEmpty() || id.contains("\n")) {
            throw new IllegalStateException(
                    "not exactly one running container "
                            + container
                            + " of "
                            + namespace
                            + "/"
                            + pod
                            + " on node "
                            + options.name
                            + ": ["
                            + id
                            + "]");
        }
        long pid =
                Long.parseLong(
                        crictl("inspect", "-o", "go-template", "--template", "{{.info.pid}}", id)
                                .strip());
        ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
    }

    public boolean isRunning() {
        return kubelet != null && kubelet.isRunning() && runtime.isRunning();
    }

    /**
     * A power loss: SIGKILL to the kubelet, containerd, the shims and every container, all at once.
     * The Node object stays and goes NotReady when its lease runs out; its pods are never told.
     * {@link #close()} later removes what is left.
     */
    public void kill() throws IOException {
        try {
            kubelet.kill();
            runtime.kill();
            RealNodeCleanup.killMentioning(workDir, null);
            CgroupRoot cgroup = new CgroupRoot(record.cgroupRoot());
            // Containers die a moment after SIGKILL and leave cgroup.procs once reaped.
            for (int i = 0; i < 100 && !cgroup.processes().isEmpty(); i++) {
                cgroup.processes()
                        .forEach(
                                pid ->
                                        ProcessHandle.of(pid)
                                                .ifPresent(ProcessHandle::destroyForcibly));
                Thread.sleep(100);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
    }

    /**
     * Stops the kubelet, removes every pod sandbox through the CRI (network namespaces, veths, IPAM
     * addresses), stops containerd, removes the node's cgroups, mounts and log links, restores the
     * kernel tunables when it is the last node of the machine, deletes its Node object (unless
     * {@code deleteNodeOnClose(false)}), its own pod network if it made one, and its work dir
     * (unless {@code keepWorkDir(true)}).
     */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        List<String> problems = new ArrayList<>();
        if (kubelet != null) {
            kubelet.close();
        }
        if (options.deleteNodeOnClose && options.client != null) {
            try {
                options.client.nodes().withName(options.name).delete();
            } catch (RuntimeException e) {
                problems.add("deleting Node " + options.name + ": " + e);
            }
        }
        if (record != null) {
            try {
                registry.locked(
                        () -> {
                            RealNodeCleanup.removeNode(registry, record, runtime);
                            return null;
                        });
            } catch (IOException e) {
                problems.add("cleanup: " + e);
            }
        }
        if (ownsNetwork && network != null) {
            try {
                network.close();
            } catch (IOException e) {
                problems.add("network: " + e);
            }
        }
        if (!options.keepWorkDir) {
            try {
                if (!RealNodeCleanup.deleteWorkDir(workDir)) {
                    problems.add("work dir " + workDir + " kept: mounts left below it");
                }
            } catch (IOException | UncheckedIOException e) {
                problems.add(e.getMessage());
            }
        }
        if (!problems.isEmpty()) {
            LOG.warn("node {} stopped with problems: {}", options.name, problems);
        } else {
            LOG.info(
                    "node {} stopped and cleaned up{}",
                    options.name,
                    options.keepWorkDir ? " (work dir kept: " + workDir + ")" : "");
        }
    }

    @Override
    public String toString() {
        return "RealNode[" + options.name + ", " + workDir + "]";
    }

    // ----------------------------------------------------------------------------------------------

    /** How to obtain the kubelet's kubeconfig for a node name, written to the given file. */
    @FunctionalInterface
    public interface KubeconfigSource {
        Path apply(String nodeName, Path file) throws IOException;
    }

    public static final class Builder {
        private String name = "node-1";
        private Path workDir;
        private Path binDir;
        private Path kubeletBinary;
        private KubeconfigSource kubeconfig;
        private Path clientCa;
        private KubernetesClient client;
        private PodNetwork network;
        private final List<Path> images = new ArrayList<>();
        private final Map<String, String> labels = new LinkedHashMap<>();
        private final Map<String, String> extendedResources = new LinkedHashMap<>();
        private final List<String> kubeletFlags = new ArrayList<>();
        private Duration startTimeout = Duration.ofMinutes(2);
        private boolean keepWorkDir =
                Boolean.parseBoolean(System.getenv().getOrDefault("PHOENIX_KEEP_NODE", "false"));
        private boolean deleteNodeOnClose = true;
        private HostRegistry registry;

        private Builder() {}

        /**
         * Joins {@code cp}: a node kubeconfig from {@link ControlPlane#nodeKubeconfig}, the cluster
         * CA for client certificates (the API server's kubelet client certificate) and the admin
         * client to wait for Ready.
         */
        public Builder controlPlane(ControlPlane cp) {
            this.kubeconfig = cp::nodeKubeconfig;
            this.clientCa = cp.caCertPath();
            this.client = cp.adminClient();
            return this;
        }

        /** Node name (also the kubelet's --hostname-override); default node-1. */
        public Builder name(String name) {
            if (name == null || !name.matches("[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?")) {
                throw new IllegalArgumentException(
                        "name: '" + name + "' is not a valid node name (DNS subdomain)");
            }
            this.name = name;
            return this;
        }

        /**
         * Work dir (default a new /tmp/phx-node-*); must be absent, empty or a previous RealNode's.
         */
        public Builder workDir(Path dir) {
            this.workDir = dir;
            return this;
        }

        /**
         * containerd, crictl, runc, CNI plugins, pause image (default {@link
         * NodeBinaries#locate()}).
         */
        public Builder binDir(Path dir) {
            this.binDir = dir;
            return this;
        }

        /** The kubelet (default {@code kubelet} in {@link KubernetesBinaries#locate()}). */
        public Builder kubeletBinary(Path kubelet) {
            this.kubeletBinary = kubelet;
            return this;
        }

        /** The kubelet's kubeconfig, given explicitly (identity system:node:&lt;name&gt;). */
        public Builder kubeconfig(Path file) {
            this.kubeconfig = (n, f) -> file;
            return this;
        }

        /**
         * CA whose client certificates the kubelet accepts (the API server's kubelet client
         * certificate).
         */
        public Builder clientCa(Path ca) {
            this.clientCa = ca;
            return this;
        }

        /**
         * A client allowed to read and patch Nodes (waits for Ready, advertises extended
         * resources).
         */
        public Builder client(KubernetesClient client) {
            this.client = client;
            return this;
        }

        /** Shared pod network (several nodes on one link); default: the node makes its own. */
        public Builder network(PodNetwork network) {
            this.network = network;
            return this;
        }

        /** An image archive (Jib buildTar, OCI archive) to import before the kubelet starts. */
        public Builder image(Path archive) {
            if (!Files.isRegularFile(archive)) {
                throw new IllegalArgumentException(
                        "image: no archive at " + archive + " (build it with -Pimages)");
            }
            images.add(archive);
            return this;
        }

        /**
         * A node label (the kubelet's --node-labels; NodeRestriction forbids most of
         * kubernetes.io/*).
         */
        public Builder label(String key, String value) {
            labels.put(key, value);
            return this;
        }

        /** An extended resource in the Node's capacity, e.g. {@code ("nvidia.com/gpu", "1")}. */
        public Builder extendedResource(String resource, String quantity) {
            extendedResources.put(resource, quantity);
            return this;
        }

        public Builder kubeletFlag(String flag) {
            kubeletFlags.add(flag);
            return this;
        }

        public Builder startTimeout(Duration d) {
            this.startTimeout = d;
            return this;
        }

        /**
         * Keep the work dir (logs, kubelet and containerd state) after close; env
         * PHOENIX_KEEP_NODE=true.
         */
        public Builder keepWorkDir(boolean keep) {
            this.keepWorkDir = keep;
            return this;
        }

        /** Delete the Node object on close (default true; its pods are then garbage collected). */
        public Builder deleteNodeOnClose(boolean delete) {
            this.deleteNodeOnClose = delete;
            return this;
        }

        Builder registry(HostRegistry r) {
            this.registry = r;
            return this;
        }

        public RealNode start() throws IOException {
            return new RealNode(this).startNode();
        }
    }
}
