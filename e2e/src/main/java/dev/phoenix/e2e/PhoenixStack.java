package dev.phoenix.e2e;

import dev.phoenix.api.v1alpha1.TrainingJob;
import dev.phoenix.local.controlplane.ControlPlane;
import dev.phoenix.local.disruption.ClusterDisruptions;
import dev.phoenix.local.realnode.ClusterServices;
import dev.phoenix.local.realnode.PodNetwork;
import dev.phoenix.local.realnode.RealNode;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Phoenix on one machine, as on a cluster: a control plane (etcd, kube-apiserver, kube-scheduler,
 * kube-controller-manager) listening on a pod network's gateway, kube-proxy and CoreDNS for that
 * network, the TrainingJob CRD, the operator as its own JVM, and real nodes (kubelet on containerd,
 * {@code nvidia.com/gpu} advertised as an extended resource) that run the trainer image built by
 * {@code -Pimages} in containers.
 */
public final class PhoenixStack implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(PhoenixStack.class);
    public static final String TRAINER_IMAGE = "phoenix/trainer:0.1.0";

    /** The PyTorch trainer image (hack/torch-image.sh, pytorch/image/build_image.py). */
    public static final String TORCH_IMAGE = "phoenix/trainer-torch:cpu";

    private final Builder options;
    private PodNetwork network;
    private ControlPlane controlPlane;
    private ClusterServices services;
    private OperatorProcess operator;
    private final List<RealNode> nodes = new CopyOnWriteArrayList<>();
    private final AtomicInteger nodeCounter = new AtomicInteger();

    private PhoenixStack(Builder b) {
        this.options = b;
    }

    public static Builder builder() {
        return new Builder();
    }

    public static final class Builder {
        private Path workDir;
        private boolean keepWorkDir;
        private int nodes = 2;
        private int gpusPerNode = 4;
        private boolean operatorLeaderElection;
        private Path trainerImage;

        /**
         * Where the control plane, network, checkpoints and logs live; default a fresh temp dir.
         */
        public Builder workDir(Path dir) {
            this.workDir = dir;
            return this;
        }

        public Builder keepWorkDir(boolean keep) {
            this.keepWorkDir = keep;
            return this;
        }

        /** Real nodes started with the stack (default 2). */
        public Builder nodes(int n) {
            this.nodes = n;
            return this;
        }

        /** {@code nvidia.com/gpu} each node advertises (default 4). */
        public Builder gpusPerNode(int gpus) {
            this.gpusPerNode = gpus;
            return this;
        }

        public Builder operatorLeaderElection(boolean on) {
            this.operatorLeaderElection = on;
            return this;
        }

        /**
         * The trainer image archive (default {@code trainer-image/target/jib-image.tar}, built by
         * {@code -Pimages}).
         */
        public Builder trainerImage(Path archive) {
            this.trainerImage = archive;
            return this;
        }

        public PhoenixStack start() throws IOException {
            PhoenixStack s = new PhoenixStack(this);
            try {
                s.startAll();
            } catch (IOException | RuntimeException e) {
                s.close();
                throw e;
            }
            return s;
        }
    }

    /**
     * The PyTorch trainer image archive of this checkout ({@code
     * pytorch/target/trainer-torch-cpu.tar}, written by {@code hack/torch-image.sh}, which the e2e
     * module's {@code -Pimages} build runs), or a clear error saying how to build it.
     */
    public static Path torchImageArchive() {
        Path tar = Repo.root().resolve("pytorch/target/trainer-torch-cpu.tar");
        if (!Files.isRegularFile(tar)) {
            throw new IllegalStateException(
                    "no PyTorch trainer image at " + tar + ": build it with `hack/torch-image.sh`");
        }
        return tar;
    }

    /** The trainer image of this checkout, or a clear error saying how to build it. */
    public static Path trainerImageArchive() {
        Path tar = Repo.root().resolve("trainer-image/target/jib-image.tar");
        if (!Files.isRegularFile(tar)) {
            throw new IllegalStateException(
                    "no trainer image at "
                            + tar
                            + ": build it with "
                            + "`mvn -Pimages -pl trainer-image -am package -DskipTests`");
        }
        return tar;
    }

    private void startAll() throws IOException {
        if (options.workDir == null) {
            options.workDir = Files.createTempDirectory("phoenix-local-");
        }
        if (options.trainerImage == null) {
            options.trainerImage = trainerImageArchive();
        }
        Files.createDirectories(options.workDir);
        long t0 = System.nanoTime();
        network = PodNetwork.create(options.workDir.resolve("network"));
        controlPlane =
                ControlPlane.builder()
                        .withScheduler(true)
                        .withControllerManager(true)
                        // pods reach the API server through the kubernetes Service, which
                        // kube-proxy routes here
                        .listenAddress(network.nodeIp())
                        // Pods of a dead node are evicted after 5 s instead of 300 s.
                        .defaultNotReadyTolerationSeconds(5)
                        .defaultUnreachableTolerationSeconds(5)
                        .workDir(options.workDir.resolve("control-plane"))
                        .keepWorkDir(options.keepWorkDir)
                        .build()
                        .start();
        LOG.info("control plane up in {} ms: {}", ms(t0), controlPlane);
        long t1 = System.nanoTime();
        // kube-proxy of node-1 (the first node started below); it serves every node of this machine
        services = ClusterServices.start(controlPlane, network, "node-1");
        installCrd(controlPlane.adminClient());
        LOG.info("CRD installed in {} ms", ms(t1));
        long t2 = System.nanoTime();
        operator =
                new OperatorProcess(
                                controlPlane.kubeconfigPath(),
                                logDir().resolve("operator.log"),
                                options.operatorLeaderElection)
                        .start();
        LOG.info(
                "operator pid {} ready in {} ms (log {})",
                operator.pid(),
                ms(t2),
                operator.logFile());
        for (int i = 0; i < options.nodes; i++) {
            startNode();
        }
        services.awaitReady(java.time.Duration.ofMinutes(2));
    }

    private static long ms(long t0) {
        return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
    }

    /** Installs the committed CRD (what users install) and waits until it is Established. */
    public static void installCrd(KubernetesClient client) throws IOException {
        installCrd(client, Repo.crd());
    }

    /** Installs the CRDs of a manifest file and waits until each is Established. */
    public static void installCrd(KubernetesClient client, java.nio.file.Path file)
            throws IOException {
        try (InputStream in = Files.newInputStream(file)) {
            for (HasMetadata item : client.load(in).items()) {
                CustomResourceDefinition crd = (CustomResourceDefinition) item;
                client.resource(crd).createOr(existing -> existing.update());
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
                while (true) {
                    var c =
                            client.apiextensions()
                                    .v1()
                                    .customResourceDefinitions()
                                    .withName(crd.getMetadata().getName())
                                    .get();
                    if (c != null
                            && c.getStatus() != null
                            && c.getStatus().getConditions() != null
                            && c.getStatus().getConditions().stream()
                                    .anyMatch(
                                            x ->
                                                    "Established".equals(x.getType())
                                                            && "True".equals(x.getStatus()))) {
                        break;
                    }
                    if (System.nanoTime() > deadline) {
                        throw new IOException(
                                "CRD "
                                        + crd.getMetadata().getName()
                                        + " not Established after 60 s");
                    }
                    sleep(100);
                }
            }
        }
        // The typed client must see the new resource (discovery) before the first use.
        for (int i = 0; i < 100; i++) {
            try {
                client.resources(TrainingJob.class).inAnyNamespace().list();
                return;
            } catch (RuntimeException notYet) {
                sleep(100);
            }
        }
    }

    /**
     * Starts (and registers) one more real node, {@code node-<n>}, with the trainer image imported.
     */
    public RealNode startNode() throws IOException {
        String name = "node-" + nodeCounter.incrementAndGet();
        RealNode node =
                RealNode.builder()
                        .controlPlane(controlPlane)
                        .name(name)
                        .network(network)
                        .image(options.trainerImage)
                        .extendedResource("nvidia.com/gpu", Integer.toString(options.gpusPerNode))
                        .start();
        nodes.add(node);
        LOG.info(
                "node {} Ready in {} ms (work dir {})",
                name,
                node.startTime().toMillis(),
                node.workDir());
        return node;
    }

    /** The nodes still alive. */
    public List<RealNode> nodes() {
        return List.copyOf(nodes);
    }

    /** The first live node. */
    public RealNode node() {
        return nodes.get(0);
    }

    /** The live node a pod runs on, or null. */
    public RealNode nodeOf(Pod pod) {
        String n = pod.getSpec().getNodeName();
        return nodes.stream().filter(x -> x.name().equals(n)).findFirst().orElse(null);
    }

    /**
     * Disruptions the cluster's own components make (scheduler, Eviction API, taint manager,
     * PodGC).
     */
    public ClusterDisruptions disruptions() {
        return new ClusterDisruptions(admin());
    }

    /**
     * The disruptions a real cluster's components make, by the DisruptionTarget reason they write.
     */
    public static final List<String> REASONS = ClusterDisruptions.REASONS;

    /**
     * {@link ClusterDisruptions#disrupt}: the component behind {@code reason} disrupts {@code
     * victim}; waits until it is gone.
     */
    public void disrupt(Pod victim, String reason) {
        disruptions().disrupt(victim, reason, java.time.Duration.ofMinutes(3));
    }

    /**
     * A spot reclaim: the machine behind {@code node} is gone at once (every process of the node
     * SIGKILLed, its containers with it), and the cloud deletes its Node object;
     * kube-controller-manager's PodGC then deletes the pods bound to it (DisruptionTarget
     * DeletionByPodGC). A fresh node joins so work can continue; returns it.
     */
    public RealNode loseNode(RealNode node) throws IOException {
        node.kill();
        disruptions().deleteNode(node.name());
        nodes.remove(node);
        RealNode fresh = startNode();
        node.close(); // what the dead node left on this machine (its pods are already gone with it)
        return fresh;
    }

    public ControlPlane controlPlane() {
        return controlPlane;
    }

    public KubernetesClient admin() {
        return controlPlane.adminClient();
    }

    public OperatorProcess operator() {
        return operator;
    }

    public Path workDir() {
        return options.workDir;
    }

    public Path logDir() {
        return options.workDir.resolve("logs");
    }

    /**
     * A host directory for a job's checkpoints (a hostPath volume: every node is this machine, so a
     * pod on a replacement node finds them), writable by the trainer's non-root user.
     */
    public Path checkpointDir(String namespace, String job) throws IOException {
        Path p = options.workDir.resolve("checkpoints").resolve(namespace).resolve(job);
        Files.createDirectories(p);
        Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwxrwxrwx"));
        return p;
    }

    /** The container log of a pod's container (through the API server and the pod's kubelet). */
    public String log(Pod pod, String container) {
        return admin().pods()
                .inNamespace(pod.getMetadata().getNamespace())
                .withName(pod.getMetadata().getName())
                .inContainer(container)
                .getLog();
    }

    /** Runs kubectl against this cluster; returns stdout, throws on a non-zero exit. */
    public String kubectl(String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>();
        cmd.add(kubectlBinary());
        cmd.add("--kubeconfig=" + controlPlane.kubeconfigPath());
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IOException("kubectl " + String.join(" ", args) + ": timed out");
        }
        if (p.exitValue() != 0) {
            throw new IOException(
                    "kubectl " + String.join(" ", args) + " exited " + p.exitValue() + ": " + out);
        }
        return out;
    }

    /**
     * kubectl from PATH if there is one (the user's), else the one provisioned with the control
     * plane.
     */
    public String kubectlBinary() {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(":")) {
            if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, "kubectl"))) {
                return Path.of(dir, "kubectl").toString();
            }
        }
        return controlPlane.kubectl().toString();
    }

    @Override
    public synchronized void close() {
        if (operator != null) {
            operator.close();
        }
        for (RealNode n : nodes) {
            try {
                n.close();
            } catch (RuntimeException e) {
                LOG.warn("closing node {}: {}", n.name(), e.toString());
            }
        }
        nodes.clear();
        if (services != null) {
            services.close();
        }
        if (controlPlane != null) {
            controlPlane.close();
        }
        if (network != null) {
            try {
                network.close();
            } catch (IOException e) {
                LOG.warn("closing the pod network: {}", e.toString());
            }
        }
    }

    /** Thread.sleep for polling loops; an interrupt ends the loop with an unchecked exception. */
    public static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new RuntimeException(e);
        }
    }
}
