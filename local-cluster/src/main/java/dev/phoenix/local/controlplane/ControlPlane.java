package dev.phoenix.local.controlplane;

import dev.phoenix.local.process.ManagedProcess;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.authentication.TokenRequest;
import io.fabric8.kubernetes.api.model.authentication.TokenRequestBuilder;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.HttpURLConnection;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.BooleanSupplier;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import javax.net.ssl.HttpsURLConnection;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManager;
import javax.net.ssl.X509TrustManager;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A real Kubernetes control plane (the release {@code hack/k8s-binaries.sh} pins) on loopback:
 * etcd, kube-apiserver and optionally kube-scheduler and kube-controller-manager, each a child
 * process with its log in the work dir.
 *
 * <pre>{@code
 * try (ControlPlane cp = ControlPlane.builder().withScheduler(true).withControllerManager(true)
 *     .build().start()) {
 *   cp.adminClient().pods().inNamespace("default").list();
 * }
 * }</pre>
 *
 * <p>Authentication: a static admin token (user {@code phoenix-admin}, group {@code
 * system:masters}); authorization {@code Node,RBAC}; service-account tokens through the
 * TokenRequest API ({@link #clientFor(String, String)}). Several instances may run at once (free
 * ports, separate directories), also in different JVMs.
 */
public final class ControlPlane implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ControlPlane.class);

    /** Issuer (and default API audience) of service-account tokens. */
    public static final String SERVICE_ACCOUNT_ISSUER =
            "https://kubernetes.default.svc.cluster.local";

    public static final String SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24";
    public static final String KUBERNETES_SERVICE_IP = "10.0.0.1";
    public static final String ADMIN_USER = "phoenix-admin";
    private static final String MARKER = ".phoenix-controlplane";
    private static final int MAX_PORT_ATTEMPTS = 3;

    private final Builder options;
    private final Path workDir;
    private final boolean ownsWorkDir;
    private final List<ManagedProcess> processes = Collections.synchronizedList(new ArrayList<>());
    private final String adminToken = randomToken();
    private final String schedulerToken = randomToken();
    private final String controllerManagerToken = randomToken();

    private Path binDir;
    private Certificates certs;
    private int etcdPort;
    private int etcdPeerPort;
    private int apiServerPort;
    private int schedulerPort;
    private int controllerManagerPort;
    private Path kubeconfig;
    private volatile KubernetesClient adminClient;
    private Process watchdog;
    private Thread shutdownHook;
    private volatile boolean started;
    private volatile boolean closed;

    private ControlPlane(Builder b) {
        this.options = b;
        try {
            if (b.workDir == null) {
                this.workDir = Files.createTempDirectory("phoenix-cp-").toAbsolutePath();
                this.ownsWorkDir = true;
            } else {
                this.workDir = b.workDir.toAbsolutePath();
                this.ownsWorkDir = false;
                if (Files.isDirectory(workDir)) {
                    try (Stream<Path> s = Files.list(workDir)) {
                        boolean empty = s.findAny().isEmpty();
                        if (!empty && !Files.exists(workDir.resolve(MARKER))) {
                            throw new IllegalArgumentException(
                                    "work dir "
                                            + workDir
                                            + " is not empty and was not made by a ControlPlane; refusing to use (and later delete) it");
                        }
                    }
                    deleteContents(workDir);
                }
                Files.createDirectories(workDir);
            }
            Files.writeString(workDir.resolve(MARKER), "phoenix control plane work dir\n");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static Builder builder() {
        return new Builder();
    }

    // ------------------------------------------------------------------------------------------------
    // lifecycle

    /** Starts every component and waits until it is ready. Returns {@code this}. */
    public synchronized ControlPlane start() {
        if (closed) {
            throw new IllegalStateException("closed");
        }
        if (started) {
            return this;
        }
        long t0 = System.nanoTime();
        try {
            binDir =
                    options.binDir != null
                            ? options.binDir.toAbsolutePath()
                            : KubernetesBinaries.locate();
            if (!KubernetesBinaries.complete(binDir)) {
                throw new IllegalStateException(
                        binDir + " lacks one of " + KubernetesBinaries.NAMES);
            }
            certs =
                    Certificates.generate(
                            workDir.resolve("pki"), KUBERNETES_SERVICE_IP, options.listenAddress);
            writeTokenFile();
            installShutdownHook();
            for (int attempt = 1; ; attempt++) {
                try {
                    startComponents();
                    break;
                } catch (ControlPlaneException e) {
                    boolean portClash =
                            processes.stream()
                                    .anyMatch(
                                            p ->
                                                    p.tail(200)
                                                            .toLowerCase(Locale.ROOT)
                                                            .contains("address already in use"));
                    stopProcesses();
                    if (!portClash || attempt >= MAX_PORT_ATTEMPTS) {
                        throw e;
                    }
                    LOG.warn(
                            "port clash while starting the control plane, retrying ({}/{})",
                            attempt,
                            MAX_PORT_ATTEMPTS);
                }
            }
            started = true;
            LOG.info(
                    "control plane ready at {} in {} ms (work dir {})",
                    masterUrl(),
                    (System.nanoTime() - t0) / 1_000_000,
                    workDir);
            return this;
        } catch (RuntimeException | IOException e) {
            close();
            if (e instanceof RuntimeException re) {
                throw re;
            }
            throw new ControlPlaneException("cannot start control plane: " + e, e);
        }
    }

    private void startComponents() throws IOException {
        processes.clear();
        etcdPort = ManagedProcess.freePort();
        etcdPeerPort = ManagedProcess.freePort();
        apiServerPort = ManagedProcess.freePort();
        schedulerPort = ManagedProcess.freePort();
        controllerManagerPort = ManagedProcess.freePort();
        Deadline deadline = new Deadline(options.startTimeout);

        Path etcdData = workDir.resolve("etcd");
        deleteRecursively(etcdData);
        String etcdUrl = "http://127.0.0.1:" + etcdPort;
        String peerUrl = "http://127.0.0.1:" + etcdPeerPort;
        ManagedProcess etcd =
                launch(
                        "etcd",
                        List.of(
                                bin("etcd"),
                                "--name=phoenix",
                                "--data-dir=" + etcdData,
                                "--listen-client-urls=" + etcdUrl,
                                "--advertise-client-urls=" + etcdUrl,
                                "--listen-peer-urls=" + peerUrl,
                                "--initial-advertise-peer-urls=" + peerUrl,
                                "--initial-cluster=phoenix=" + peerUrl,
                                "--initial-cluster-state=new",
                                "--logger=zap",
                                "--log-level=warn"),
                        List.of());
        waitUntil(
                "etcd healthy",
                deadline,
                List.of(etcd),
                () -> httpGet(etcdUrl + "/health", null).contains("\"health\":\"true\""));

        List<String> api =
                new ArrayList<>(
                        List.of(
                                bin("kube-apiserver"),
                                "--etcd-servers=" + etcdUrl,
                                "--bind-address=" + options.listenAddress,
                                "--advertise-address=" + options.listenAddress,
                                "--secure-port=" + apiServerPort,
                                "--cert-dir=" + workDir.resolve("apiserver-certs"),
                                "--tls-cert-file=" + certs.servingCert,
                                "--tls-private-key-file=" + certs.servingKey,
                                "--client-ca-file=" + certs.caCert,
                                "--token-auth-file=" + workDir.resolve("tokens.csv"),
                                "--authorization-mode=Node,RBAC",
                                "--service-account-issuer=" + SERVICE_ACCOUNT_ISSUER,
                                "--service-account-signing-key-file=" + certs.serviceAccountKey,
                                "--service-account-key-file=" + certs.serviceAccountPub,
                                "--api-audiences=" + SERVICE_ACCOUNT_ISSUER,
                                "--service-cluster-ip-range=" + SERVICE_CLUSTER_IP_RANGE,
                                // A node's Hostname is its name, which no resolver knows: looking
                                // it up would send DNS queries off the
                                // machine. Its InternalIP is the address the kubelet listens on.
                                "--kubelet-preferred-address-types=InternalIP",
                                "--allow-privileged=true",
                                // The API server authenticates to kubelets (logs, exec) with a
                                // certificate of this CA
                                // (CN kube-apiserver); kubelets serve self-signed certificates,
                                // which it does not verify.
                                "--kubelet-client-certificate=" + certs.servingCert,
                                "--kubelet-client-key=" + certs.servingKey,
                                "--profiling=false",
                                "--v=1"));
        if (isLoopback(options.listenAddress)) {
            // 127.0.0.1 is not a valid Endpoints address: do not reconcile the kubernetes service
            // (pods cannot reach a
            // loopback API server anyway). On a pod network's gateway address it is reconciled:
            // kube-proxy routes the
            // kubernetes Service to it, as on any cluster.
            api.add("--endpoint-reconciler-type=none");
        }
        if (options.defaultNotReadyTolerationSeconds != null) {
            api.add(
                    "--default-not-ready-toleration-seconds="
                            + options.defaultNotReadyTolerationSeconds);
        }
        if (options.defaultUnreachableTolerationSeconds != null) {
            api.add(
                    "--default-unreachable-toleration-seconds="
                            + options.defaultUnreachableTolerationSeconds);
        }
        if (!options.controllerManager) {
            // ServiceAccount admission needs the service-account and token controllers.
            api.add("--disable-admission-plugins=ServiceAccount");
        }
        ManagedProcess apiServer = launch("kube-apiserver", api, options.apiServerFlags);
        String readyz = masterUrl() + "/readyz";
        waitUntil(
                "kube-apiserver ready (" + readyz + ")",
                deadline,
                List.of(etcd, apiServer),
                () -> "ok".equals(httpGet(readyz, adminToken).strip()));

        kubeconfig = workDir.resolve("kubeconfig");
        writeKubeconfig(kubeconfig, ADMIN_USER, token(adminToken), "default");
        Path schedulerKubeconfig = workDir.resolve("kube-scheduler.kubeconfig");
        writeKubeconfig(schedulerKubeconfig, "system:kube-scheduler", token(schedulerToken), null);
        Path cmKubeconfig = workDir.resolve("kube-controller-manager.kubeconfig");
        writeKubeconfig(
                cmKubeconfig,
                "system:kube-controller-manager",
                token(controllerManagerToken),
                null);

        List<ManagedProcess> watched = new ArrayList<>(List.of(etcd, apiServer));
        ManagedProcess cm = null;
        if (options.controllerManager) {
            List<String> cmArgs =
                    new ArrayList<>(
                            List.of(
                                    bin("kube-controller-manager"),
                                    "--kubeconfig=" + cmKubeconfig,
                                    "--authentication-kubeconfig=" + cmKubeconfig,
                                    "--authorization-kubeconfig=" + cmKubeconfig,
                                    "--bind-address=127.0.0.1",
                                    "--secure-port=" + controllerManagerPort,
                                    "--cert-dir=" + workDir.resolve("controller-manager-certs"),
                                    "--leader-elect=false",
                                    "--controllers=*",
                                    "--use-service-account-credentials=true",
                                    "--service-account-private-key-file=" + certs.serviceAccountKey,
                                    "--root-ca-file=" + certs.caCert,
                                    "--cluster-signing-cert-file=" + certs.caCert,
                                    "--cluster-signing-key-file=" + certs.caKey,
                                    "--service-cluster-ip-range=" + SERVICE_CLUSTER_IP_RANGE,
                                    "--allocate-node-cidrs=false",
                                    "--cluster-name=phoenix",
                                    "--node-monitor-period=" + seconds(options.nodeMonitorPeriod),
                                    "--node-monitor-grace-period="
                                            + seconds(options.nodeMonitorGracePeriod),
                                    "--node-startup-grace-period="
                                            + seconds(
                                                    options.nodeMonitorGracePeriod.multipliedBy(2)),
                                    "--kube-api-qps=" + options.componentQps,
                                    "--kube-api-burst=" + options.componentBurst,
                                    "--profiling=false",
                                    "--v=2"));
            cm = launch("kube-controller-manager", cmArgs, options.controllerManagerFlags);
            watched.add(cm);
        }
        ManagedProcess scheduler = null;
        if (options.scheduler) {
            // The scheduler's client limits (qps 50, burst 100 by default) in its configuration
            // file, the supported way (its --kube-api-qps flag is deprecated).
            Path schedulerConfig = workDir.resolve("kube-scheduler.yaml");
            Files.writeString(
                    schedulerConfig,
                    String.join(
                            "\n",
                            "apiVersion: kubescheduler.config.k8s.io/v1",
                            "kind: KubeSchedulerConfiguration",
                            "clientConnection:",
                            "  kubeconfig: " + schedulerKubeconfig,
                            "  qps: " + options.componentQps,
                            "  burst: " + options.componentBurst,
                            "leaderElection:",
                            "  leaderElect: false",
                            ""));
            List<String> schedArgs =
                    new ArrayList<>(
                            List.of(
                                    bin("kube-scheduler"),
                                    "--config=" + schedulerConfig,
                                    "--authentication-kubeconfig=" + schedulerKubeconfig,
                                    "--authorization-kubeconfig=" + schedulerKubeconfig,
                                    "--bind-address=127.0.0.1",
                                    "--secure-port=" + schedulerPort,
                                    "--cert-dir=" + workDir.resolve("scheduler-certs"),
                                    "--profiling=false",
                                    "--v=2"));
            scheduler = launch("kube-scheduler", schedArgs, options.schedulerFlags);
            watched.add(scheduler);
        }
        if (cm != null) {
            String healthz = "https://127.0.0.1:" + controllerManagerPort + "/healthz";
            waitUntil(
                    "kube-controller-manager healthy (" + healthz + ")",
                    deadline,
                    watched,
                    () -> "ok".equals(httpGet(healthz, null).strip()));
            // Pods in "default" need its ServiceAccount (ServiceAccount admission).
            waitUntil(
                    "default/default ServiceAccount",
                    deadline,
                    watched,
                    () -> serviceAccountReady("default", "default"));
        }
        if (scheduler != null) {
            String healthz = "https://127.0.0.1:" + schedulerPort + "/healthz";
            waitUntil(
                    "kube-scheduler healthy (" + healthz + ")",
                    deadline,
                    watched,
                    () -> "ok".equals(httpGet(healthz, null).strip()));
        }
    }

    private ManagedProcess launch(String name, List<String> args, List<String> extra)
            throws IOException {
        List<String> cmd = new ArrayList<>(args);
        cmd.addAll(extra);
        // Components must never pick up the caller's cluster.
        ManagedProcess p =
                ManagedProcess.builder(name, cmd)
                        .workDir(workDir)
                        .logFile(workDir.resolve("logs/" + name + ".log"))
                        .environment(env -> env.remove("KUBECONFIG"))
                        .start();
        processes.add(p);
        writePidFile();
        return p;
    }

    /** Stops all processes (SIGTERM, then SIGKILL) and removes the work dir unless kept. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        KubernetesClient c = adminClient;
        adminClient = null;
        if (c != null) {
            try {
                c.close();
            } catch (RuntimeException e) {
                LOG.debug("closing admin client", e);
            }
        }
        stopProcesses();
        if (watchdog != null) {
            watchdog.destroyForcibly();
        }
        if (shutdownHook != null && Thread.currentThread() != shutdownHook) {
            try {
                Runtime.getRuntime().removeShutdownHook(shutdownHook);
            } catch (IllegalStateException ignored) {
                // JVM already shutting down
            }
        }
        if (options.keepWorkDir) {
            LOG.info("control plane stopped; work dir kept: {}", workDir);
        } else {
            try {
                deleteRecursively(workDir);
            } catch (IOException e) {
                LOG.warn("cannot delete {}: {}", workDir, e.toString());
            }
        }
    }

    private void stopProcesses() {
        List<ManagedProcess> copy;
        synchronized (processes) {
            copy = new ArrayList<>(processes);
        }
        Collections.reverse(copy); // scheduler/controller-manager, apiserver, then etcd
        for (ManagedProcess p : copy) {
            p.stop(10_000);
        }
    }

    private void installShutdownHook() throws IOException {
        shutdownHook = new Thread(this::close, "phoenix-controlplane-shutdown");
        Runtime.getRuntime().addShutdownHook(shutdownHook);
        // If this JVM dies without running hooks (SIGKILL), a watchdog kills the components.
        Path pids = workDir.resolve("pids");
        Files.writeString(pids, "");
        String script =
                "J=$1; F=$2; while kill -0 \"$J\" 2>/dev/null; do sleep 2; done; "
                        + "P=$(cat \"$F\" 2>/dev/null); [ -n \"$P\" ] || exit 0; kill $P 2>/dev/null; sleep 5; "
                        + "kill -9 $P 2>/dev/null; exit 0";
        watchdog =
                new ProcessBuilder(
                                "sh",
                                "-c",
                                script,
                                "phoenix-cp-watchdog",
                                Long.toString(ProcessHandle.current().pid()),
                                pids.toString())
                        .redirectErrorStream(true)
                        .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                        .start();
    }

    private void writePidFile() throws IOException {
        String pids;
        synchronized (processes) {
            pids =
                    processes.stream()
                            .map(p -> Long.toString(p.pid()))
                            .collect(Collectors.joining(" "));
        }
        Files.writeString(workDir.resolve("pids"), pids + "\n");
    }

    // ------------------------------------------------------------------------------------------------
    // accessors

    /**
     * {@code https://<listen address>:<port>} ({@code 127.0.0.1} unless {@link
     * Builder#listenAddress} says otherwise).
     */
    public String masterUrl() {
        return "https://" + options.listenAddress + ":" + apiServerPort;
    }

    /** The address the API server listens on and advertises (the kubernetes Service's endpoint). */
    public String listenAddress() {
        return options.listenAddress;
    }

    private static boolean isLoopback(String address) {
        return address.startsWith("127.");
    }

    public String adminToken() {
        return adminToken;
    }

    public Path caCertPath() {
        return certs.caCert;
    }

    /**
     * A kubeconfig for the kubelet of node {@code nodeName}: a client certificate for {@code
     * system:node:<nodeName>} in group {@code system:nodes}, the identity the Node authorizer and
     * the NodeRestriction admission plugin expect. Written to {@code file} (the key next to it).
     */
    public Path nodeKubeconfig(String nodeName, Path file) throws IOException {
        requireStarted();
        Path[] certAndKey;
        synchronized (this) {
            certAndKey =
                    certs.clientCert(
                            "node-" + nodeName, "/O=system:nodes/CN=system:node:" + nodeName);
        }
        Files.createDirectories(file.toAbsolutePath().getParent());
        writeKubeconfig(
                file,
                "system:node:" + nodeName,
                "    client-certificate: "
                        + certAndKey[0]
                        + "\n"
                        + "    client-key: "
                        + certAndKey[1]
                        + "\n",
                null);
        return file;
    }

    /** Admin kubeconfig (context {@code phoenix}, namespace {@code default}). */
    public Path kubeconfigPath() {
        requireStarted();
        return kubeconfig;
    }

    public Path workDir() {
        return workDir;
    }

    /** Directory with etcd, kube-apiserver, kube-scheduler, kube-controller-manager and kubectl. */
    public Path binDir() {
        return binDir;
    }

    /** The kubectl of the same release as this control plane. */
    public Path kubectl() {
        return binDir.resolve("kubectl");
    }

    public Path logDir() {
        return workDir.resolve("logs");
    }

    public boolean hasScheduler() {
        return options.scheduler;
    }

    public boolean hasControllerManager() {
        return options.controllerManager;
    }

    /** True while every component process is alive. */
    public boolean isRunning() {
        synchronized (processes) {
            return started && !closed && processes.stream().allMatch(ManagedProcess::isAlive);
        }
    }

    /**
     * Admin client, shared by all callers; closed by {@link #close()} (do not close it yourself).
     */
    public KubernetesClient adminClient() {
        requireStarted();
        KubernetesClient c = adminClient;
        if (c == null) {
            synchronized (this) {
                if (adminClient == null) {
                    adminClient = newClient(adminToken, "default");
                }
                c = adminClient;
            }
        }
        return c;
    }

    /** A new admin client the caller owns (and closes). */
    public KubernetesClient newAdminClient() {
        requireStarted();
        return newClient(adminToken, "default");
    }

    /** Fabric8 config for the admin user, detached from any ~/.kube/config or environment. */
    public Config adminConfig() {
        return config(adminToken, "default");
    }

    /**
     * A client authenticated as {@code system:serviceaccount:<namespace>:<serviceAccount>} with a
     * bound token from the TokenRequest API (valid 24 h). Creates the ServiceAccount if it is
     * missing. The caller owns (and closes) the client.
     */
    public KubernetesClient clientFor(String namespace, String serviceAccount) {
        return newClient(
                serviceAccountToken(namespace, serviceAccount, Duration.ofHours(24)), namespace);
    }

    /** A bound token of the ServiceAccount (created if missing), audience the API server. */
    public String serviceAccountToken(String namespace, String serviceAccount, Duration validity) {
        requireStarted();
        KubernetesClient admin = adminClient();
        if (admin.serviceAccounts().inNamespace(namespace).withName(serviceAccount).get() == null) {
            try {
                admin.serviceAccounts()
                        .inNamespace(namespace)
                        .resource(
                                new io.fabric8.kubernetes.api.model.ServiceAccountBuilder()
                                        .withNewMetadata()
                                        .withName(serviceAccount)
                                        .endMetadata()
                                        .build())
                        .create();
            } catch (io.fabric8.kubernetes.client.KubernetesClientException e) {
                if (e.getCode() != 409) {
                    throw e;
                }
            }
        }
        TokenRequest request =
                new TokenRequestBuilder()
                        .withNewSpec()
                        .withAudiences(SERVICE_ACCOUNT_ISSUER)
                        .withExpirationSeconds(Math.max(600L, validity.toSeconds()))
                        .endSpec()
                        .build();
        TokenRequest response =
                admin.serviceAccounts()
                        .inNamespace(namespace)
                        .withName(serviceAccount)
                        .tokenRequest(request);
        if (response == null
                || response.getStatus() == null
                || response.getStatus().getToken() == null) {
            throw new ControlPlaneException(
                    "TokenRequest for " + namespace + "/" + serviceAccount + " returned no token");
        }
        return response.getStatus().getToken();
    }

    /**
     * Creates a namespace {@code <prefix>-<random>} and, when the controller manager runs, waits
     * until its {@code default} ServiceAccount exists so pods can be admitted.
     */
    public String createNamespace(String prefix) {
        requireStarted();
        String base =
                (prefix == null || prefix.isBlank() ? "test" : prefix)
                        .toLowerCase(Locale.ROOT)
                        .replaceAll("[^a-z0-9-]", "-");
        if (base.length() > 50) {
            base = base.substring(0, 50);
        }
        base = base.replaceAll("^-+|-+$", "");
        String name =
                (base.isEmpty() ? "test" : base)
                        + "-"
                        + Long.toString(
                                ThreadLocalRandom.current().nextLong(36L * 36 * 36 * 36 * 36), 36);
        adminClient()
                .namespaces()
                .resource(
                        new NamespaceBuilder()
                                .withNewMetadata()
                                .withName(name)
                                .endMetadata()
                                .build())
                .create();
        if (options.controllerManager) {
            Deadline d = new Deadline(Duration.ofSeconds(60));
            waitUntil(
                    "ServiceAccount " + name + "/default",
                    d,
                    processes,
                    () -> serviceAccountReady(name, "default"));
        }
        return name;
    }

    private boolean serviceAccountReady(String namespace, String name) {
        ServiceAccount sa =
                adminClient().serviceAccounts().inNamespace(namespace).withName(name).get();
        // Since 1.24 pods get bound projected tokens; no token Secret is created, so the
        // ServiceAccount object itself is all admission needs.
        return sa != null;
    }

    private KubernetesClient newClient(String token, String namespace) {
        return new KubernetesClientBuilder().withConfig(config(token, namespace)).build();
    }

    private Config config(String token, String namespace) {
        requireStarted();
        return new ConfigBuilder(Config.empty())
                .withMasterUrl(masterUrl())
                .withCaCertFile(certs.caCert.toString())
                .withOauthToken(token)
                .withNamespace(namespace)
                .withRequestTimeout(30_000)
                .withConnectionTimeout(10_000)
                .build();
    }

    private void requireStarted() {
        if (kubeconfig == null || closed) {
            throw new IllegalStateException(
                    closed ? "control plane closed" : "control plane not started");
        }
    }

    // ------------------------------------------------------------------------------------------------
    // helpers

    private String bin(String name) {
        return binDir.resolve(name).toString();
    }

    private void writeTokenFile() throws IOException {
        Path f = workDir.resolve("tokens.csv");
        Files.writeString(
                f,
                String.join(
                        "\n",
                        adminToken + "," + ADMIN_USER + "," + ADMIN_USER + ",\"system:masters\"",
                        schedulerToken + ",system:kube-scheduler,system:kube-scheduler",
                        controllerManagerToken
                                + ",system:kube-controller-manager,system:kube-controller-manager",
                        ""),
                StandardCharsets.UTF_8);
    }

    /**
     * A kubeconfig for this control plane (context {@code phoenix}); {@code credentials} are the
     * user's lines: {@link #token} or a client certificate and key.
     */
    private void writeKubeconfig(Path file, String user, String credentials, String namespace)
            throws IOException {
        String yaml =
                "apiVersion: v1\n"
                        + "kind: Config\n"
                        + "clusters:\n"
                        + "- name: phoenix\n"
                        + "  cluster:\n"
                        + "    server: "
                        + masterUrl()
                        + "\n"
                        + "    certificate-authority: "
                        + certs.caCert
                        + "\n"
                        + "users:\n"
                        + "- name: "
                        + user
                        + "\n"
                        + "  user:\n"
                        + credentials
                        + "contexts:\n"
                        + "- name: phoenix\n"
                        + "  context:\n"
                        + "    cluster: phoenix\n"
                        + "    user: "
                        + user
                        + "\n"
                        + (namespace != null ? "    namespace: " + namespace + "\n" : "")
                        + "current-context: phoenix\n";
        Files.writeString(file, yaml, StandardCharsets.UTF_8);
    }

    private static String token(String token) {
        return "    token: " + token + "\n";
    }

    private void waitUntil(
            String what,
            Deadline deadline,
            List<ManagedProcess> watched,
            BooleanSupplier condition) {
        Exception last = null;
        while (true) {
            try {
                if (condition.getAsBoolean()) {
                    return;
                }
            } catch (RuntimeException e) {
                last = e;
            }
            List<ManagedProcess> snapshot;
            synchronized (processes) {
                snapshot = new ArrayList<>(watched);
            }
            for (ManagedProcess p : snapshot) {
                if (!p.isAlive()) {
                    throw failure(p.name() + " exited while waiting for " + what, last, snapshot);
                }
            }
            if (deadline.expired()) {
                throw failure(
                        "timed out after "
                                + options.startTimeout.toSeconds()
                                + "s waiting for "
                                + what,
                        last,
                        snapshot);
            }
            try {
                Thread.sleep(200);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new ControlPlaneException("interrupted while waiting for " + what, e);
            }
        }
    }

    private ControlPlaneException failure(String message, Exception last, List<ManagedProcess> ps) {
        StringBuilder sb = new StringBuilder(message);
        if (last != null) {
            sb.append(" (last probe error: ").append(last).append(')');
        }
        sb.append("; work dir ").append(workDir);
        for (ManagedProcess p : ps) {
            sb.append(System.lineSeparator()).append(p.describeForError());
        }
        return new ControlPlaneException(sb.toString(), last);
    }

    /** GET returning the body ("" for non-2xx); trusts any certificate (loopback health probes). */
    private static String httpGet(String url, String bearer) {
        try {
            HttpURLConnection c = (HttpURLConnection) new URL(url).openConnection();
            if (c instanceof HttpsURLConnection https) {
                https.setSSLSocketFactory(TRUST_ALL.getSocketFactory());
                https.setHostnameVerifier((h, s) -> true);
            }
            c.setConnectTimeout(2000);
            c.setReadTimeout(5000);
            if (bearer != null) {
                c.setRequestProperty("Authorization", "Bearer " + bearer);
            }
            int code = c.getResponseCode();
            InputStream in = code < 400 ? c.getInputStream() : c.getErrorStream();
            String body = in == null ? "" : new String(in.readAllBytes(), StandardCharsets.UTF_8);
            c.disconnect();
            return code / 100 == 2 ? body : "";
        } catch (IOException e) {
            return "";
        }
    }

    private static final SSLContext TRUST_ALL = trustAll();

    private static SSLContext trustAll() {
        try {
            SSLContext ctx = SSLContext.getInstance("TLS");
            ctx.init(
                    null,
                    new TrustManager[] {
                        new X509TrustManager() {
                            @Override
                            public void checkClientTrusted(
                                    X509Certificate[] chain, String authType) {}

                            @Override
                            public void checkServerTrusted(
                                    X509Certificate[] chain, String authType) {}

                            @Override
                            public X509Certificate[] getAcceptedIssuers() {
                                return new X509Certificate[0];
                            }
                        }
                    },
                    new SecureRandom());
            return ctx;
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    private static String randomToken() {
        byte[] b = new byte[24];
        new SecureRandom().nextBytes(b);
        return HexFormat.of().formatHex(b);
    }

    private static String seconds(Duration d) {
        return Math.max(1, d.toSeconds()) + "s";
    }

    private static void deleteRecursively(Path p) throws IOException {
        if (!Files.exists(p, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        try (Stream<Path> s = Files.walk(p)) {
            for (Path x : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(x);
            }
        }
    }

    private static void deleteContents(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            for (Path x : s.toList()) {
                deleteRecursively(x);
            }
        }
    }

    private static final class Deadline {
        private final long end;

        Deadline(Duration d) {
            end = System.nanoTime() + d.toNanos();
        }

        boolean expired() {
            return System.nanoTime() > end;
        }
    }

    @Override
    public String toString() {
        return "ControlPlane[" + (started ? masterUrl() : "not started") + ", " + workDir + "]";
    }

    // ------------------------------------------------------------------------------------------------

    /**
     * Options; {@link #build()} creates a control plane that {@link ControlPlane#start()} starts.
     */
    public static final class Builder {
        private boolean scheduler = true;
        private boolean controllerManager = true;
        private Path workDir;
        private Path binDir;
        private boolean keepWorkDir =
                Boolean.parseBoolean(
                        System.getenv().getOrDefault("PHOENIX_KEEP_CONTROLPLANE", "false"));
        private Integer defaultNotReadyTolerationSeconds;
        private Integer defaultUnreachableTolerationSeconds;
        private Duration nodeMonitorPeriod = Duration.ofSeconds(2);
        private Duration nodeMonitorGracePeriod = Duration.ofSeconds(20);
        private Duration startTimeout = Duration.ofMinutes(3);
        private String listenAddress = "127.0.0.1";
        private final List<String> apiServerFlags = new ArrayList<>();
        private final List<String> controllerManagerFlags = new ArrayList<>();
        private final List<String> schedulerFlags = new ArrayList<>();
        private int componentQps = 50;
        private int componentBurst = 100;

        private Builder() {}

        /**
         * Client rate limits of kube-scheduler and kube-controller-manager (default qps 50, burst
         * 100: the scheduler's own defaults). A benchmark of 1,000-pod gangs raises them as large
         * clusters do, so that the scheduler's binds and the Job controller's creates are not held
         * at 50 per second.
         */
        public Builder componentClientLimits(int qps, int burst) {
            this.componentQps = qps;
            this.componentBurst = burst;
            return this;
        }

        /** Start kube-scheduler (default true). */
        public Builder withScheduler(boolean on) {
            this.scheduler = on;
            return this;
        }

        /**
         * Start kube-controller-manager (default true). Without it, the ServiceAccount admission
         * plugin is disabled (no tokens or default ServiceAccounts would exist), nothing is garbage
         * collected and namespaces never finish deleting.
         */
        public Builder withControllerManager(boolean on) {
            this.controllerManager = on;
            return this;
        }

        /**
         * Work dir (default: a new temp dir). Must be empty, absent or a previous ControlPlane's.
         */
        public Builder workDir(Path dir) {
            this.workDir = dir;
            return this;
        }

        /** Binaries (default: {@link KubernetesBinaries#locate()}). */
        public Builder binDir(Path dir) {
            this.binDir = dir;
            return this;
        }

        /**
         * Keep the work dir (logs, etcd data, kubeconfig) after close (env
         * PHOENIX_KEEP_CONTROLPLANE=true).
         */
        public Builder keepWorkDir(boolean keep) {
            this.keepWorkDir = keep;
            return this;
        }

        /**
         * tolerationSeconds the DefaultTolerationSeconds admission adds for
         * node.kubernetes.io/not-ready (300 if unset).
         */
        public Builder defaultNotReadyTolerationSeconds(int seconds) {
            this.defaultNotReadyTolerationSeconds = seconds;
            return this;
        }

        /**
         * tolerationSeconds the DefaultTolerationSeconds admission adds for
         * node.kubernetes.io/unreachable (300 if unset).
         */
        public Builder defaultUnreachableTolerationSeconds(int seconds) {
            this.defaultUnreachableTolerationSeconds = seconds;
            return this;
        }

        /**
         * Controller manager's --node-monitor-grace-period (default 20s; startup grace is twice
         * this).
         */
        public Builder nodeMonitorGracePeriod(Duration d) {
            this.nodeMonitorGracePeriod = d;
            return this;
        }

        /** Controller manager's --node-monitor-period (default 2s). */
        public Builder nodeMonitorPeriod(Duration d) {
            this.nodeMonitorPeriod = d;
            return this;
        }

        /**
         * The address kube-apiserver binds to and advertises (default 127.0.0.1). Pods of real
         * nodes reach the API server only on an address of their network: pass the pod network's
         * gateway ({@code PodNetwork.nodeIp()}), and the kubernetes Service gets that endpoint
         * (kube-proxy then routes {@code 10.0.0.1:443} to it).
         */
        public Builder listenAddress(String address) {
            if (!address.matches("\\d+\\.\\d+\\.\\d+\\.\\d+")) {
                throw new IllegalArgumentException(
                        "listenAddress must be an IPv4 address, not " + address);
            }
            this.listenAddress = address;
            return this;
        }

        /** How long start() waits for all components to be ready (default 3 min). */
        public Builder startTimeout(Duration d) {
            this.startTimeout = d;
            return this;
        }

        /** Extra kube-apiserver flag, e.g. {@code --feature-gates=...}; later flags win. */
        public Builder apiServerFlag(String flag) {
            apiServerFlags.add(flag);
            return this;
        }

        public Builder controllerManagerFlag(String flag) {
            controllerManagerFlags.add(flag);
            return this;
        }

        public Builder schedulerFlag(String flag) {
            schedulerFlags.add(flag);
            return this;
        }

        public ControlPlane build() {
            return new ControlPlane(this);
        }
    }
}
