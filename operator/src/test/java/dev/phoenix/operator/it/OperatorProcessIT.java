package dev.phoenix.operator.it;

import static dev.phoenix.operator.it.OperatorHarness.TIMEOUT;
import static dev.phoenix.operator.it.OperatorHarness.awaitGang;
import static dev.phoenix.operator.it.OperatorHarness.env;
import static dev.phoenix.operator.it.OperatorHarness.pods;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.phoenix.local.controlplane.ControlPlane;
import dev.phoenix.local.controlplane.junit.TestNamespace;
import dev.phoenix.local.controlplane.junit.WithControlPlane;
import dev.phoenix.local.kwok.Kwok;
import dev.phoenix.operator.PhoenixOperator;
import dev.phoenix.operator.config.OperatorConfig;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.http.BasicBuilder;
import io.fabric8.kubernetes.client.http.HttpRequest;
import io.fabric8.kubernetes.client.http.Interceptor;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The operator as a process: the namespaces it watches, and leader election between replicas. */
@WithControlPlane
class OperatorProcessIT {
    private static final Pattern NAMESPACED =
            Pattern.compile(
                    "/(pods|configmaps|services|serviceaccounts|roles|rolebindings|events|trainingjobs)(/|$)");
    private static ControlPlane controlPlane;
    private final List<AutoCloseable> toClose = new ArrayList<>();

    @BeforeAll
    static void crd(ControlPlane cp, KubernetesClient client) throws Exception {
        controlPlane = cp;
        OperatorHarness.installCrd(client);
    }

    @AfterEach
    void close() throws Exception {
        for (AutoCloseable c : toClose) {
            c.close();
        }
    }

    private <T extends AutoCloseable> T closing(T c) {
        toClose.add(0, c);
        return c;
    }

    @Test
    void watchesOnlyTheNamespacesItIsGiven(KubernetesClient client, TestNamespace watched)
            throws Exception {
        String ignored = controlPlane.createNamespace("ignored");
        closing(Kwok.start(controlPlane)).addNode("kwok-" + watched.name());
        // Every request the operator sends, recorded: the proof that it never looks at another
        // namespace is in what it asks the API server for, not in waiting for nothing to happen.
        List<String> requests = new CopyOnWriteArrayList<>();
        KubernetesClient recording =
                closing(
                        new KubernetesClientBuilder()
                                .withConfig(client.getConfiguration())
                                .withHttpClientBuilderConsumer(
                                        b ->
                                                b.addOrReplaceInterceptor(
                                                        "record",
                                                        new Interceptor() {
                                                            @Override
                                                            public void before(
                                                                    BasicBuilder builder,
                                                                    HttpRequest request,
                                                                    RequestTags tags) {
                                                                requests.add(
                                                                        request.method()
                                                                                + " "
                                                                                + request.uri()
                                                                                        .getRawPath());
                                                            }
                                                        }))
                                .build());
        client.resource(OperatorHarness.job(ignored, "other", 1)).create();
        closing(
                PhoenixOperator.start(
                        recording,
                        new OperatorConfig()
                                .withLeaderElection(false)
                                .withHttpPort(0)
                                .withNamespaces(watched.name())));
        client.resource(OperatorHarness.job(watched.name(), "mine", 1)).create();
        awaitGang(client, watched.name(), "mine", 1, 1);
        assertThat(requests).as("requests sent").isNotEmpty();
        assertThat(requests)
                .as("every request for a namespaced kind names the watched namespace")
                .filteredOn(r -> NAMESPACED.matcher(r).find())
                .isNotEmpty()
                .allMatch(r -> r.contains("/namespaces/" + watched.name() + "/"));
        assertThat(pods(client, ignored, "other")).isEmpty();
        assertThat(OperatorHarness.get(client, ignored, "other").getStatus().getPhase())
                .as("never reconciled")
                .isNull();
        client.namespaces().withName(ignored).delete();
    }

    @Test
    void aStandbyReplicaTakesOverWhenTheLeaderStops(KubernetesClient client, TestNamespace ns)
            throws Exception {
        String lease = ns.name();
        closing(Kwok.start(controlPlane)).addNode("kwok-" + ns.name());
        KubernetesClient clientA = closing(controlPlane.newAdminClient());
        KubernetesClient clientB = closing(controlPlane.newAdminClient());
        OperatorConfig config =
                new OperatorConfig()
                        .withHttpPort(0)
                        .withLeaseNamespace(ns.name())
                        .withNamespaces(ns.name())
                        .withExitOnLostLeadership(false);
        PhoenixOperator a = PhoenixOperator.start(clientA, config);
        await().atMost(TIMEOUT).until(() -> holder(client, lease) != null);
        PhoenixOperator b = closing(PhoenixOperator.start(clientB, config));
        String first = holder(client, lease);

        client.resource(OperatorHarness.job(ns.name(), "llm", 2)).create();
        awaitGang(client, ns.name(), "llm", 1, 2);
        await().atMost(TIMEOUT)
                .until(
                        () ->
                                "Running"
                                        .equals(
                                                OperatorHarness.phase(client, ns.name(), "llm")
                                                        .orElse("")));

        a.close();
        await().atMost(TIMEOUT)
                .until(
                        () -> {
                            String h = holder(client, lease);
                            return h != null && !h.equals(first);
                        });
        client.pods().inNamespace(ns.name()).withName("llm-worker-0").delete();
        assertThat(awaitGang(client, ns.name(), "llm", 2, 2))
                .allSatisfy(p -> assertThat(env(p)).containsEntry("PHOENIX_ATTEMPT", "2"));
        assertThat(OperatorHarness.get(client, ns.name(), "llm").getStatus().getPreemptions())
                .isEqualTo(1);
        assertThat(b).isNotNull();
    }

    private static String holder(KubernetesClient client, String namespace) {
        var l = client.leases().inNamespace(namespace).withName("phoenix-operator-lock").get();
        return l == null || l.getSpec() == null ? null : l.getSpec().getHolderIdentity();
    }
}
