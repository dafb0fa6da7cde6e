package dev.phoenix.e2e;

import dev.phoenix.api.v1alpha1.TrainingJob;
import dev.phoenix.local.controlplane.ControlPlane;
import dev.phoenix.local.node.Disruptions;
import dev.phoenix.local.node.LocalNode;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Phoenix on one machine: a real control plane (etcd, kube-apiserver, kube-scheduler,
 * kube-controller-manager), the TrainingJob CRD, the operator as its own JVM, and local nodes (kubelet
 * stand-ins with {@code nvidia.com/gpu} capacity) that run the trainer image as local processes.
 */
public final class PhoenixStack implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(PhoenixStack.class);

    private final Builder options;
    private ControlPlane controlPlane;
    private OperatorProcess operator;
    private final List<LocalNode> nodes = new CopyOnWriteArrayList<>();
    private final List<KubernetesClient> nodeClients = new CopyOnWriteArrayList<>();
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
        private int gpus = 32;
        private String cpu = "64";
        private String memory = "256Gi";
        private boolean operatorLeaderElection;
        private String trainerJavaOpts = Repo.SMALL_JVM_OPTS;

        /** Where the control plane, node, checkpoints and logs live; default a fresh temp dir. */
        public Builder workDir(Path dir) {
            this.workDir = dir;
            return this;
        }

        public Builder keepWorkDir(boolean keep) {
            this.keepWorkDir = keep;
            return this;
        }

        public Builder gpus(int gpus) {
            this.gpus = gpus;
            return this;
        }

        public Builder cpu(String cpu) {
            this.cpu = cpu;
            return this;
        }

        public Builder operatorLeaderElection(boolean on) {
            this.operatorLeaderElection = on;
            return this;
        }

        public Builder trainerJavaOpts(String opts) {
            this.trainerJavaOpts = opts;
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

    private void startAll() throws IOException {
        if (options.workDir == null) {
            options.workDir = Files.createTempDirectory("phoenix-local-");
        }
        Files.createDirectories(options.workDir);
        long t0 = System.nanoTime();
        controlPlane = ControlPlane.builder()
                .withScheduler(true)
                .withControllerManager(true)
                // Pods of a dead node are evicted after 5 s instead of 300 s.
                .defaultNotReadyTolerationSeconds(5)
                .defaultUnreachableTolerationSeconds(5)
                .workDir(options.workDir.resolve("control-plane"))
                .keepWorkDir(options.keepWorkDir)
                .build()
                .start();
        LOG.info("control plane up in {} ms: {}", ms(t0), controlPlane);
        long t1 = System.nanoTime();
        installCrd(controlPlane.adminClient());
        LOG.info("CRD installed in {} ms", ms(t1));
        long t2 = System.nanoTime();
        operator = new OperatorProcess(controlPlane.kubeconfigPath(), logDir().resolve("operator.log"),
                options.operatorLeaderElection).start();
        LOG.info("operator pid {} ready in {} ms (log {})", operator.pid(), ms(t2), operator.logFile());
        startNode();
    }

    private static long ms(long t0) {
        return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
    }

    /** Installs the committed CRD (what users install) and waits until it is Established. */
    public static void installCrd(KubernetesClient client) throws IOException {
        try (InputStream in = Files.newInputStream(Repo.crd())) {
            for (HasMetadata item : client.load(in).items()) {
                CustomResourceDefinition crd = (CustomResourceDefinition) item;
                client.resource(crd).createOr(existing -> existing.update());
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
                while (true) {
                    var c = client.apiextensions().v1().customResourceDefinitions().withName(crd.getMetadata().getName()).get();
                    if (c != null && c.getStatus() != null && c.getStatus().getConditions() != null && c.getStatus().getConditions()
                            .stream().anyMatch(x -> "Established".equals(x.getType()) && "True".equals(x.getStatus()))) {
                        break;
                    }
                    if (System.nanoTime() > deadline) {
                        throw new IOException("CRD " + crd.getMetadata().getName() + " not Established after 60 s");
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

    /** Starts (and registers) one more local node, {@code local-node-<n>}. */
    public LocalNode startNode() {
        String name = "local-node-" + nodeCounter.incrementAndGet();
        KubernetesClient c = controlPlane.newAdminClient();
        nodeClients.add(c);
        LocalNode node = LocalNode.builder()
                .client(c)
                .name(name)
                .gpus(options.gpus)
                .cpu(options.cpu)
                .memory(options.memory)
                .pods(250)
                .workDir(options.workDir.resolve("nodes").resolve(name))
                .variable("PHOENIX_TRAINER_CLASSPATH", Repo.trainerClasspath())
                .variable("PHOENIX_TRAINER_JAVA_OPTS", options.trainerJavaOpts)
                .heartbeat(Duration.ofSeconds(2))
                .deleteNodeOnClose(true)
                .start();
        nodes.add(node);
        LOG.info("local node {} started (bwrap {}, work dir {})", name, node.useBwrap(), node.workDir());
        return node;
    }

    /** The nodes still alive. */
    public List<LocalNode> nodes() {
        return List.copyOf(nodes);
    }

    /** The first live node. */
    public LocalNode node() {
        return nodes.get(0);
    }

    /** The live node a pod runs on, or null. */
    public LocalNode nodeOf(Pod pod) {
        String n = pod.getSpec().getNodeName();
        return nodes.stream().filter(x -> x.name().equals(n)).findFirst().orElse(null);
    }

    /** Disruptions over the live nodes. */
    public Disruptions disruptions() {
        return new Disruptions(admin(), nodes.toArray(new LocalNode[0]));
    }

    /**
     * Hard node loss of {@code node} (SIGKILL of every process, Node deleted, its pods force-deleted with
     * DisruptionTarget DeletionByPodGC), then a fresh node so work can continue. Returns the new node.
     */
    public LocalNode loseNode(LocalNode node) {
        disruptions().nodeLoss(node);
        nodes.remove(node);
        return startNode();
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

    /** A host directory for a job's checkpoints (a hostPath volume; the local nodes all share this host). */
    public Path checkpointDir(String namespace, String job) throws IOException {
        Path p = options.workDir.resolve("checkpoints").resolve(namespace).resolve(job);
        Files.createDirectories(p);
        return p;
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
            throw new IOException("kubectl " + String.join(" ", args) + " exited " + p.exitValue() + ": " + out);
        }
        return out;
    }

    /** kubectl from PATH if there is one (the user's), else the one provisioned with the control plane. */
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
        for (LocalNode n : nodes) {
            try {
                n.close();
            } catch (RuntimeException e) {
                LOG.warn("closing node {}: {}", n.name(), e.toString());
            }
        }
        nodes.clear();
        for (KubernetesClient c : nodeClients) {
            c.close();
        }
        if (controlPlane != null) {
            controlPlane.close();
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
