package dev.phoenix.operator;

import dev.phoenix.operator.config.OperatorConfig;
import dev.phoenix.operator.metrics.HttpEndpoints;
import dev.phoenix.operator.metrics.PhoenixMetrics;
import io.fabric8.kubernetes.client.KubernetesClient;
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
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The running operator: JOSDK wired to Phoenix's reconciler, metrics and HTTP endpoints. */
public final class PhoenixOperator implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(PhoenixOperator.class);
    private static final Path POD_NAMESPACE_FILE = Path.of("/var/run/secrets/kubernetes.io/serviceaccount/namespace");

    private final Operator operator;
    private final HttpEndpoints http;
    private final PrometheusMeterRegistry registry;

    private PhoenixOperator(Operator operator, HttpEndpoints http, PrometheusMeterRegistry registry) {
        this.operator = operator;
        this.http = http;
        this.registry = registry;
    }

    public static PhoenixOperator start(KubernetesClient client, OperatorConfig config) throws IOException {
        PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        Operator operator = new Operator(o -> {
            o.withKubernetesClient(client)
                    .withCloseClientOnStop(false)
                    // SSA is beta on 1.20 API servers; status is written with optimistic locking instead.
                    .withUseSSAToPatchPrimaryResource(false)
                    .withConcurrentReconciliationThreads(config.reconcileThreads())
                    .withMetrics(MicrometerMetrics.withoutPerResourceMetrics(registry));
            if (config.leaderElection()) {
                o.withLeaderElectionConfiguration(LeaderElectionConfigurationBuilder
                        .aLeaderElectionConfiguration(config.leaseName())
                        .withLeaseNamespace(leaseNamespace(config, client))
                        .build());
            }
        });
        TrainingJobReconciler reconciler = new TrainingJobReconciler(new PhoenixMetrics(registry),
                config.watchNodes(), Clock.systemUTC());
        Set<String> namespaces = config.namespaceSet();
        operator.register(reconciler, o -> {
            if (namespaces.isEmpty()) {
                o.watchingAllNamespaces();
            } else {
                o.settingNamespaces(namespaces);
            }
        });
        operator.start();
        HttpEndpoints http = new HttpEndpoints(config.httpPort(),
                () -> operator.getRuntimeInfo().allEventSourcesAreHealthy(),
                () -> operator.getRuntimeInfo().isStarted(), registry);
        LOG.info("Phoenix operator started: namespaces={}, leaderElection={}, http port {}",
                namespaces.isEmpty() ? "all" : namespaces, config.leaderElection(), http.port());
        return new PhoenixOperator(operator, http, registry);
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
        http.close();
        operator.stop();
    }
}
