package dev.phoenix.operator;

import dev.phoenix.operator.config.OperatorConfig;
import dev.phoenix.operator.metrics.HttpEndpoints;
import dev.phoenix.operator.metrics.PhoenixMetrics;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.extended.leaderelection.LeaderCallbacks;
import io.javaoperatorsdk.operator.Operator;
import io.javaoperatorsdk.operator.api.config.LeaderElectionConfigurationBuilder;
import io.javaoperatorsdk.operator.monitoring.micrometer.MicrometerMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The running operator: JOSDK wired to Phoenix's reconciler, metrics and HTTP endpoints. */
public final class PhoenixOperator implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(PhoenixOperator.class);
    private static final Path POD_NAMESPACE_FILE =
            Path.of("/var/run/secrets/kubernetes.io/serviceaccount/namespace");

    private final Operator operator;
    private final HttpEndpoints http;
    private final PrometheusMeterRegistry registry;
    private final AtomicBoolean closing;

    private PhoenixOperator(
            Operator operator,
            HttpEndpoints http,
            PrometheusMeterRegistry registry,
            AtomicBoolean closing) {
        this.operator = operator;
        this.http = http;
        this.registry = registry;
        this.closing = closing;
    }

    public static PhoenixOperator start(KubernetesClient client, OperatorConfig config)
            throws IOException {
        PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        AtomicBoolean closing = new AtomicBoolean();
        AtomicReference<Operator> self = new AtomicReference<>();
        Operator operator =
                new Operator(
                        o -> {
                            o.withKubernetesClient(client)
                                    .withCloseClientOnStop(false)
                                    // Status is written whole with optimistic locking
                                    // (resourceVersion): a stale view is refused, never merged.
                                    .withUseSSAToPatchPrimaryResource(false)
                                    .withConcurrentReconciliationThreads(config.reconcileThreads())
                                    .withMetrics(
                                            MicrometerMetrics.withoutPerResourceMetrics(registry));
                            if (config.leaderElection()) {
                                o.withLeaderElectionConfiguration(
                                        LeaderElectionConfigurationBuilder
                                                .aLeaderElectionConfiguration(config.leaseName())
                                                .withLeaseNamespace(leaseNamespace(config, client))
                                                .withIdentity(identity())
                                                // JOSDK would System.exit even on an orderly stop;
                                                // lost leadership is handled below.
                                                .withExitOnStopLeading(false)
                                                .withLeaderCallbacks(
                                                        new LeaderCallbacks(
                                                                () ->
                                                                        LOG.info(
                                                                                "became the leader; reconciling"),
                                                                () ->
                                                                        lostLeadership(
                                                                                config, closing,
                                                                                self),
                                                                leader ->
                                                                        LOG.info(
                                                                                "leader is {}",
                                                                                leader)))
                                                .build());
                            }
                        });
        TrainingJobReconciler reconciler =
                new TrainingJobReconciler(
                        new PhoenixMetrics(registry), config.watchNodes(), Clock.systemUTC());
        Set<String> namespaces = config.namespaceSet();
        operator.register(
                reconciler,
                o -> {
                    if (namespaces.isEmpty()) {
                        o.watchingAllNamespaces();
                    } else {
                        o.settingNamespaces(namespaces);
                    }
                });
        self.set(operator);
        operator.start();
        HttpEndpoints http =
                new HttpEndpoints(
                        config.httpPort(),
                        () -> operator.getRuntimeInfo().allEventSourcesAreHealthy(),
                        () -> operator.getRuntimeInfo().isStarted(),
                        registry);
        LOG.info(
                "Phoenix operator started: namespaces={}, leaderElection={}, http port {}",
                namespaces.isEmpty() ? "all" : namespaces,
                config.leaderElection(),
                http.port());
        return new PhoenixOperator(operator, http, registry, closing);
    }

    /**
     * A replica that lost its Lease must stop reconciling at once, or two replicas could restart
     * the same gang. A process exits (its pod restarts and becomes a standby); an embedded operator
     * stops.
     */
    private static void lostLeadership(
            OperatorConfig config, AtomicBoolean closing, AtomicReference<Operator> self) {
        if (closing.get()) {
            return;
        }
        LOG.error("lost the leader Lease; stopping so that two replicas never reconcile at once");
        Thread t =
                new Thread(
                        () -> {
                            if (config.exitOnLostLeadership()) {
                                System.exit(1);
                            } else if (self.get() != null) {
                                self.get().stop();
                            }
                        },
                        "phoenix-lost-leadership");
        t.setDaemon(true);
        t.start();
    }

    /**
     * The pod name (HOSTNAME in a pod) plus a random suffix: two operator processes on one host, or
     * a restarted one whose old lease has not expired yet, must never believe they are the same
     * leader.
     */
    private static String identity() {
        String host = System.getenv("HOSTNAME");
        return (host == null || host.isBlank() ? "phoenix-operator" : host)
                + "-"
                + java.util.UUID.randomUUID().toString().substring(0, 8);
    }

    private static String leaseNamespace(OperatorConfig config, KubernetesClient client) {
        if (!config.leaseNamespace().isBlank()) {
            return config.leaseNamespace();
        }
        try {
            if (Files.exists(POD_NAMESPACE_FILE)) {
                return Files.readString(POD_NAMESPACE_FILE).strip();
            }
        } catch (IOException e) {
            LOG.warn("cannot read {}: {}", POD_NAMESPACE_FILE, e.getMessage());
        }
        return client.getNamespace() == null ? "default" : client.getNamespace();
    }

    public int httpPort() {
        return http.port();
    }

    public PrometheusMeterRegistry registry() {
        return registry;
    }

    @Override
    public void close() {
        closing.set(true);
        http.close();
        operator.stop();
    }
}
