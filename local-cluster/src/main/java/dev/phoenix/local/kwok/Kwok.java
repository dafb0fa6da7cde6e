package dev.phoenix.local.kwok;

import dev.phoenix.local.controlplane.ControlPlane;
import dev.phoenix.local.process.ManagedProcess;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * KWOK ({@code sigs.k8s.io/kwok}), the Kubernetes project's simulator of nodes and pods, joined to
 * a {@link ControlPlane}: it keeps the Nodes it manages Ready (heart-beating through their Leases,
 * so the real node-lifecycle controller sees them alive) and plays the kubelet for every pod bound
 * to them, following the stages in {@code stages.yaml} next to this class: a bound pod runs, a pod
 * annotated with {@link #EXIT_CODE} exits by itself with that code, a pod deleted gracefully is
 * gone (unless it still has finalizers).
 *
 * <p>Everything else is the real control plane: the scheduler binds and preempts, the Eviction API,
 * the taint manager and PodGC delete and write {@code DisruptionTarget}. Use it where many pods or
 * nodes are needed without processes (operator tests, scale and recovery benchmarks); real
 * containers run on the real node instead.
 */
public final class Kwok implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Kwok.class);

    /** KWOK's own convention for the Nodes it manages. */
    public static final String NODE_ANNOTATION = "kwok.x-k8s.io/node";

    public static final String NODE_ANNOTATION_VALUE = "fake";

    /** Set on a running pod: its containers exit with this code (stage {@code pod-exit}). */
    public static final String EXIT_CODE = "kwok.phoenix.dev/exit-code";

    /** The termination message reported with {@link #EXIT_CODE}. */
    public static final String TERMINATION_MESSAGE = "kwok.phoenix.dev/termination-message";

    /** A duration ({@code 500ms}): a running pod succeeds that long after it started running. */
    public static final String COMPLETE_AFTER = "kwok.phoenix.dev/complete-after";

    /** Fake pod addresses: status only, never routed (KWOK assigns them, nothing connects). */
    static final String POD_CIDR = "10.233.0.0/16";

    private static final AtomicInteger INSTANCES = new AtomicInteger();

    private final ControlPlane controlPlane;
    private final Path workDir;
    private final int leaseSeconds;
    private final List<String> nodes = new java.util.concurrent.CopyOnWriteArrayList<>();
    private ManagedProcess process;
    private boolean closed;

    private Kwok(ControlPlane controlPlane, Path workDir, int leaseSeconds) {
        this.controlPlane = controlPlane;
        this.workDir = workDir;
        this.leaseSeconds = leaseSeconds;
    }

    /** Starts KWOK with its work dir (config, log) under the control plane's. */
    public static Kwok start(ControlPlane controlPlane) {
        return start(
                controlPlane,
                controlPlane.workDir().resolve("kwok-" + INSTANCES.incrementAndGet()),
                10);
    }

    /**
     * @param leaseSeconds duration of the node Leases KWOK renews; after KWOK stops, the node
     *     controller marks its nodes unreachable once their lease and the node-monitor grace period
     *     have passed
     */
    public static Kwok start(ControlPlane controlPlane, Path workDir, int leaseSeconds) {
        Kwok k = new Kwok(controlPlane, workDir, leaseSeconds);
        k.resume();
        return k;
    }

    /** (Re)starts the KWOK process: the nodes heart-beat again and pods are played again. */
    public synchronized Kwok resume() {
        if (closed) {
            throw new IllegalStateException("closed");
        }
        if (process != null && process.isAlive()) {
            return this;
        }
        try {
            Files.createDirectories(workDir);
            Path config = workDir.resolve("kwok.yaml");
            try (InputStream in =
                    Objects.requireNonNull(Kwok.class.getResourceAsStream("stages.yaml"))) {
                Files.write(config, in.readAllBytes());
            }
            int healthPort = ManagedProcess.freePort();
            List<String> cmd =
                    new ArrayList<>(
                            List.of(
                                    controlPlane.binDir().resolve("kwok").toString(),
                                    "--kubeconfig=" + controlPlane.kubeconfigPath(),
                                    "--config=" + config,
                                    "--manage-all-nodes=false",
                                    "--manage-nodes-with-annotation-selector="
                                            + NODE_ANNOTATION
                                            + "="
                                            + NODE_ANNOTATION_VALUE,
                                    "--node-lease-duration-seconds=" + leaseSeconds,
                                    "--cidr=" + POD_CIDR,
                                    "--node-ip=127.0.0.1",
                                    "--server-address=127.0.0.1:" + healthPort));
            process =
                    ManagedProcess.builder("kwok", cmd)
                            .workDir(workDir)
                            .logFile(logFile())
                            .appendLog(true)
                            .environment(env -> env.remove("KUBECONFIG"))
                            .start();
            process.awaitHttpOk(healthPort, "/healthz", Duration.ofSeconds(60));
            LOG.info("kwok running (pid {}, log {})", process.pid(), process.logFile());
            return this;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start kwok: " + e.getMessage(), e);
        }
    }

    /**
     * Stops the KWOK process (SIGKILL, as a node that loses power): its nodes stop heart-beating
     * and its pods stop changing, until {@link #resume()}.
     */
    public synchronized void halt() throws InterruptedException {
        if (process != null) {
            process.kill();
        }
    }

    /**
     * Registers a Node managed by this KWOK with the given extended capacity (for example {@code
     * nvidia.com/gpu: 1}) on top of plenty of CPU, memory and pod slots, and waits until it is
     * Ready.
     */
    public Node addNode(
            String name, Map<String, String> extraCapacity, Map<String, String> labels) {
        Map<String, Quantity> capacity = new LinkedHashMap<>();
        capacity.put("cpu", new Quantity("1000"));
        capacity.put("memory", new Quantity("1Ti"));
        capacity.put("pods", new Quantity("10000"));
        extraCapacity.forEach((k, v) -> capacity.put(k, new Quantity(v)));
        Map<String, String> allLabels = new LinkedHashMap<>(labels);
        allLabels.put("kubernetes.io/hostname", name);
        allLabels.put("type", "kwok");
        KubernetesClient client = controlPlane.adminClient();
        client.nodes()
                .resource(
                        new NodeBuilder()
                                .withNewMetadata()
                                .withName(name)
                                .withLabels(allLabels)
                                .addToAnnotations(NODE_ANNOTATION, NODE_ANNOTATION_VALUE)
                                .endMetadata()
                                .withNewStatus()
                                .withCapacity(capacity)
                                .withAllocatable(capacity)
                                .endStatus()
                                .build())
                .create();
        nodes.add(name);
        client.nodes().withName(name).waitUntilCondition(Kwok::ready, 60, TimeUnit.SECONDS);
        return client.nodes().withName(name).get();
    }

    public Node addNode(String name) {
        return addNode(name, Map.of(), Map.of());
    }

    private static boolean ready(Node n) {
        return n != null
                && n.getStatus() != null
                && n.getStatus().getConditions() != null
                && n.getStatus().getConditions().stream()
                        .anyMatch(c -> "Ready".equals(c.getType()) && "True".equals(c.getStatus()));
    }

    /**
     * The simulated containers of this pod exit by themselves with {@code exitCode} and {@code
     * message} as termination message. Targets the pod by UID: a replacement pod of the same name
     * is never hit.
     */
    public void exit(Pod pod, int exitCode, String message) {
        annotate(
                pod,
                Map.of(
                        EXIT_CODE,
                        Integer.toString(exitCode),
                        TERMINATION_MESSAGE,
                        message == null ? "" : message));
    }

    private void annotate(Pod pod, Map<String, String> annotations) {
        // metadata.uid in a merge patch is a precondition: the API server refuses the patch (409)
        // when
        // the pod of that name is another one.
        Map<String, Object> patch =
                Map.of(
                        "metadata",
                        Map.of("uid", pod.getMetadata().getUid(), "annotations", annotations));
        controlPlane
                .adminClient()
                .pods()
                .inNamespace(pod.getMetadata().getNamespace())
                .withName(pod.getMetadata().getName())
                .patch(PatchContext.of(PatchType.JSON_MERGE), Serialization.asJson(patch));
    }

    public boolean isRunning() {
        return process != null && process.isAlive();
    }

    public Path logFile() {
        return workDir.resolve("kwok.log");
    }

    /** Stops KWOK and deletes the Nodes it added (PodGC then removes pods still bound to them). */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (process != null) {
            process.stop(5_000);
        }
        for (String n : nodes) {
            try {
                controlPlane.adminClient().nodes().withName(n).delete();
            } catch (RuntimeException e) {
                LOG.debug("deleting node {}: {}", n, e.toString());
            }
        }
    }
}
