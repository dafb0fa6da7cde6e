package dev.phoenix.bench.peer;

import dev.phoenix.e2e.PhoenixStack;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.admissionregistration.v1.MutatingWebhookConfiguration;
import io.fabric8.kubernetes.api.model.admissionregistration.v1.ValidatingWebhookConfiguration;
import io.fabric8.kubernetes.api.model.admissionregistration.v1.WebhookClientConfig;
import io.fabric8.kubernetes.api.model.batch.v1.JobSpec;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * JobSet (sigs.k8s.io/jobset, built from its Go module by {@code hack/jobset.sh}), the Kubernetes
 * project's API for gangs of Jobs, with its documented recipe for preemption: the child Job's
 * {@code podFailurePolicy} fails the Job on a pod with {@code DisruptionTarget}, and the JobSet's
 * failure policy restarts the whole JobSet on {@code PodFailurePolicy} without counting it ({@code
 * RestartJobSetAndIgnoreMaxRestarts}). Its controller manager runs as a process on this machine
 * with its webhooks (defaulting and validation of JobSets, its pod webhooks limited to JobSet pods
 * as its release manifests do) served on 127.0.0.1 with a self-signed certificate.
 */
final class JobSetPeer implements Peer {
    private final KubernetesClient client;
    private final Path kubeconfig;
    private final Path home;
    private final List<HasMetadata> webhooks = new ArrayList<>();
    private final int qps;
    private Process process;
    private String ns;

    /**
     * @param qps the controller's client limits (JobSet's default is 500, burst 500; the benchmark
     *     gives every component the same)
     */
    JobSetPeer(KubernetesClient client, Path kubeconfig, int qps) {
        this.client = client;
        this.kubeconfig = kubeconfig;
        this.qps = qps;
        String dir = System.getenv("PHOENIX_JOBSET_DIR");
        if (dir == null || dir.isBlank()) {
            throw new IllegalStateException(
                    "the JobSet peer needs PHOENIX_JOBSET_DIR=$(hack/jobset.sh | tail -n 1)");
        }
        this.home = Path.of(dir);
    }

    @Override
    public String name() {
        return "JobSet v0.10.1 (RestartJobSetAndIgnoreMaxRestarts)";
    }

    @Override
    public String job() {
        return "jobset";
    }

    @Override
    public boolean restartsWholeGang() {
        return true;
    }

    @Override
    public void start(String ns, int replicas) throws Exception {
        this.ns = ns;
        startController();
        createJobSet(job(), replicas, Duration.ofSeconds(60));
    }

    @Override
    public void startMany(String ns, int n) throws Exception {
        this.ns = ns;
        startController();
        createJobSet(job() + "-0", 1, Duration.ofSeconds(60)); // the webhooks answer from here on
        Peer.createAll(
                n - 1,
                i -> {
                    try {
                        createJobSet(job() + "-" + (i + 1), 1, Duration.ofSeconds(60));
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        throw new IllegalStateException(e);
                    }
                });
    }

    /** JobSet's CRD, its controller as a process with its webhooks pointed at it. */
    private void startController() throws Exception {
        PhoenixStack.installCrd(client, home.resolve("crd.yaml"));
        Path work = Files.createTempDirectory("phoenix-jobset-");
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        run(
                work,
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
                "-keyout",
                work.resolve("tls.key").toString(),
                "-out",
                work.resolve("tls.crt").toString());
        Files.writeString(
                work.resolve("config.yaml"),
                String.join(
                        "\n",
                        "apiVersion: config.jobset.x-k8s.io/v1alpha1",
                        "kind: Configuration",
                        "clientConnection:",
                        "  qps: " + qps,
                        "  burst: " + 2 * qps,
                        "internalCertManagement:",
                        "  enable: false",
                        "leaderElection:",
                        "  leaderElect: false",
                        "metrics:",
                        "  bindAddress: \"0\"",
                        "health:",
                        "  healthProbeBindAddress: \"127.0.0.1:0\"",
                        "webhook:",
                        "  host: 127.0.0.1",
                        "  port: " + port,
                        "  certDir: " + work,
                        ""));
        process =
                new ProcessBuilder(
                                home.resolve("bin/jobset-controller").toString(),
                                "--config",
                                work.resolve("config.yaml").toString(),
                                "--kubeconfig",
                                kubeconfig.toString(),
                                "--zap-log-level",
                                "error")
                        .redirectErrorStream(true)
                        .redirectOutput(work.resolve("jobset-controller.log").toFile())
                        .start();
        awaitPort(port, Duration.ofSeconds(60));
        installWebhooks(work, port);
    }

    /** The release's webhook configurations, pointed at this process (url + our CA). */
    private void installWebhooks(Path work, int port) throws IOException {
        String ca = Base64.getEncoder().encodeToString(Files.readAllBytes(work.resolve("tls.crt")));
        try (InputStream in = Files.newInputStream(home.resolve("webhooks.yaml"))) {
            for (HasMetadata o : client.load(in).items()) {
                o.getMetadata().setName("phoenix-bench-jobset-" + o.getMetadata().getName());
                if (o instanceof MutatingWebhookConfiguration m) {
                    m.getWebhooks()
                            .forEach(w -> w.setClientConfig(local(w.getClientConfig(), port, ca)));
                    m.getWebhooks().stream()
                            .filter(w -> w.getName().startsWith("mpod"))
                            .forEach(w -> w.setObjectSelector(jobSetPods()));
                } else if (o instanceof ValidatingWebhookConfiguration v) {
                    v.getWebhooks()
                            .forEach(w -> w.setClientConfig(local(w.getClientConfig(), port, ca)));
                    v.getWebhooks().stream()
                            .filter(w -> w.getName().startsWith("vpod"))
                            .forEach(w -> w.setObjectSelector(jobSetPods()));
                }
                webhooks.add(client.resource(o).serverSideApply());
            }
        }
    }

    private static io.fabric8.kubernetes.api.model.LabelSelector jobSetPods() {
        return new io.fabric8.kubernetes.api.model.LabelSelectorBuilder()
                .addNewMatchExpression()
                .withKey("jobset.sigs.k8s.io/jobset-name")
                .withOperator("Exists")
                .endMatchExpression()
                .build();
    }

    private static WebhookClientConfig local(WebhookClientConfig c, int port, String ca) {
        WebhookClientConfig out = new WebhookClientConfig();
        out.setUrl("https://127.0.0.1:" + port + c.getService().getPath());
        out.setCaBundle(ca);
        return out;
    }

    /**
     * Retries while the webhooks are not answering yet (the API server then rejects the create).
     */
    private void createJobSet(String name, int replicas, Duration within)
            throws InterruptedException {
        JobSpec child = SimulatedPods.indexedJob(job(), replicas, 0, "FailJob").build();
        Map<String, Object> rule = new LinkedHashMap<>();
        rule.put("action", "RestartJobSetAndIgnoreMaxRestarts");
        rule.put("onJobFailureReasons", List.of("PodFailurePolicy"));
        Map<String, Object> spec = new LinkedHashMap<>();
        spec.put("failurePolicy", Map.of("maxRestarts", 0, "rules", List.of(rule)));
        spec.put(
                "replicatedJobs",
                List.of(
                        Map.of(
                                "name",
                                "workers",
                                "replicas",
                                1,
                                "template",
                                Map.of(
                                        "spec",
                                        Serialization.jsonMapper()
                                                .convertValue(child, Map.class)))));
        GenericKubernetesResource js = new GenericKubernetesResource();
        js.setApiVersion("jobset.x-k8s.io/v1alpha2");
        js.setKind("JobSet");
        js.setMetadata(
                new io.fabric8.kubernetes.api.model.ObjectMetaBuilder()
                        .withName(name)
                        .withNamespace(ns)
                        .build());
        js.setAdditionalProperty("spec", spec);
        long deadline = System.nanoTime() + within.toNanos();
        while (true) {
            try {
                client.resource(js).create();
                return;
            } catch (RuntimeException e) {
                if (System.nanoTime() > deadline) {
                    throw e;
                }
                Thread.sleep(500);
            }
        }
    }

    @Override
    public String note() {
        GenericKubernetesResource js =
                client.genericKubernetesResources("jobset.x-k8s.io/v1alpha2", "JobSet")
                        .inNamespace(ns)
                        .withName(job())
                        .get();
        if (js == null || js.getAdditionalProperties().get("status") == null) {
            return "";
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> st = (Map<String, Object>) js.getAdditionalProperties().get("status");
        return "JobSet status: restarts "
                + st.getOrDefault("restarts", 0)
                + ", counted towards maxRestarts "
                + st.getOrDefault("restartsCountTowardsMax", 0)
                + ".";
    }

    @Override
    public void close() throws Exception {
        if (ns != null) {
            client.genericKubernetesResources("jobset.x-k8s.io/v1alpha2", "JobSet")
                    .inNamespace(ns)
                    .withName(job())
                    .delete();
        }
        for (HasMetadata w : webhooks) {
            client.resource(w).delete();
        }
        if (process != null) {
            process.destroy();
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                process.destroyForcibly();
            }
        }
    }

    private static void awaitPort(int port, Duration within) throws InterruptedException {
        long deadline = System.nanoTime() + within.toNanos();
        while (true) {
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress("127.0.0.1", port), 200);
                return;
            } catch (IOException notYet) {
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException(
                            "JobSet's webhook server did not listen on "
                                    + port
                                    + " within "
                                    + within);
                }
                Thread.sleep(100);
            }
        }
    }

    private static void run(Path dir, String... cmd) throws IOException, InterruptedException {
        Process p =
                new ProcessBuilder(cmd)
                        .directory(dir.toFile())
                        .redirectErrorStream(true)
                        .redirectOutput(dir.resolve("openssl.log").toFile())
                        .start();
        if (p.waitFor() != 0) {
            throw new IOException(
                    String.join(" ", cmd) + " failed: see " + dir.resolve("openssl.log"));
        }
    }
}
