package dev.phoenix.operator.install;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.phoenix.api.v1alpha1.TrainingJob;
import dev.phoenix.local.controlplane.ControlPlane;
import dev.phoenix.local.controlplane.junit.TestNamespace;
import dev.phoenix.local.controlplane.junit.WithControlPlane;
import dev.phoenix.local.kwok.Kwok;
import dev.phoenix.operator.it.OperatorHarness;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.apps.DeploymentBuilder;
import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.fabric8.kubernetes.api.model.rbac.ClusterRoleBuilder;
import io.fabric8.kubernetes.api.model.rbac.RoleBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import org.assertj.core.api.ThrowableAssert.ThrowingCallable;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * The operator runs as the ServiceAccount phoenix-system/phoenix-operator with exactly the RBAC of
 * deploy/ (installed with `kubectl apply -k deploy/`), leader election on: it must be able to run a
 * job end to end and be refused what it must not do. The trainer identity it creates must reach its
 * own report ConfigMap and nothing else.
 */
@WithControlPlane
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class OperatorRbacIT {
    private static final String OPERATOR_NS = "phoenix-system";
    private static final String OPERATOR_SA = "phoenix-operator";
    private static final String LEASE = "phoenix-operator-lock";

    private static ControlPlane cp;
    private static KubernetesClient admin;
    private static KubernetesClient operatorClient;

    /** Two replicas, as the Deployment runs them. */
    private static final OperatorProcess[] replicas = new OperatorProcess[2];

    private String ns;
    private static Kwok kwok;

    @BeforeAll
    static void installAndStart(ControlPlane controlPlane, KubernetesClient adminClient)
            throws Exception {
        cp = controlPlane;
        admin = adminClient;
        Manifests.installDeploy(cp, admin);
        Deployment deployment =
                Manifests.load(admin, Manifests.render("deploy/")).stream()
                        .filter(Deployment.class::isInstance)
                        .map(Deployment.class::cast)
                        .findFirst()
                        .orElseThrow();
        for (int i = 0; i < replicas.length; i++) {
            replicas[i] = OperatorProcess.start(cp, deployment, "phoenix-operator-" + i);
        }
        for (OperatorProcess r : replicas) {
            r.awaitReady();
        }
        operatorClient = cp.clientFor(OPERATOR_NS, OPERATOR_SA);
        // KWOK plays the node: it acts with the admin identity, not the ones under test.
        kwok = Kwok.start(cp);
        kwok.addNode("kwok-rbac-it");
    }

    @AfterAll
    static void stop() throws Exception {
        for (OperatorProcess r : replicas) {
            if (r != null) {
                r.close();
            }
        }
        if (operatorClient != null) {
            operatorClient.close();
        }
        if (kwok != null) {
            kwok.close();
        }
    }

    private static String leaseHolder() {
        Lease lease = admin.leases().inNamespace(OPERATOR_NS).withName(LEASE).get();
        return lease == null || lease.getSpec() == null
                ? null
                : lease.getSpec().getHolderIdentity();
    }

    private static OperatorProcess leader() {
        String holder = leaseHolder();
        for (int i = 0; i < replicas.length; i++) {
            if (holder != null
                    && holder.startsWith("phoenix-operator-" + i + "-")
                    && replicas[i].process.isAlive()) {
                return replicas[i];
            }
        }
        return null;
    }

    @BeforeEach
    void namespace(TestNamespace namespace) {
        ns = namespace.name();
    }

    @Test
    void theOperatorRunsAJobWithDeploysRbacAndHoldsTheLease() throws Exception {
        admin.resource(job(ns, "llm", 2, null)).create();

        List<Pod> gang = awaitGang("llm", 1, 2);
        assertThat(gang)
                .extracting(p -> p.getMetadata().getName())
                .containsExactly("llm-worker-0", "llm-worker-1");
        // Everything act/JobResources creates, each through one rule of the ClusterRole.
        assertThat(admin.services().inNamespace(ns).withName("llm").get()).isNotNull();
        assertThat(admin.configMaps().inNamespace(ns).withName("llm-report").get()).isNotNull();
        assertThat(admin.serviceAccounts().inNamespace(ns).withName("llm-trainer").get())
                .isNotNull();
        assertThat(admin.rbac().roles().inNamespace(ns).withName("llm-trainer").get()).isNotNull();
        assertThat(admin.rbac().roleBindings().inNamespace(ns).withName("llm-trainer").get())
                .isNotNull();
        // trainingjobs/status update.
        awaitPhase("llm", "Running");
        // events create.
        await().atMost(Manifests.TIMEOUT).until(() -> hasEvent("llm", "Started"));
        // leases create/get/update in phoenix-system: the operator holds the Lease and keeps
        // renewing it.
        Lease lease = admin.leases().inNamespace(OPERATOR_NS).withName(LEASE).get();
        assertThat(lease).as("Lease %s/%s", OPERATOR_NS, LEASE).isNotNull();
        // JOSDK's identity is the pod's HOSTNAME plus a random suffix.
        assertThat(lease.getSpec().getHolderIdentity()).matches("phoenix-operator-[01]-.+");
        String renewed = lease.getSpec().getRenewTime().toString();
        await().atMost(Manifests.TIMEOUT)
                .until(
                        () ->
                                !Objects.equals(
                                        renewed,
                                        String.valueOf(
                                                admin.leases()
                                                        .inNamespace(OPERATOR_NS)
                                                        .withName(LEASE)
                                                        .get()
                                                        .getSpec()
                                                        .getRenewTime())));

        // A pod deleted by someone else is a preemption: pods get/list/watch/delete/create for the
        // restart.
        admin.pods().inNamespace(ns).withName("llm-worker-1").delete();
        awaitGang("llm", 2, 2);
        awaitPhase("llm", "Running");
        await().atMost(Manifests.TIMEOUT).until(() -> hasEvent("llm", "Preempted"));
        assertThat(get("llm").getStatus().getPreemptions()).isEqualTo(1);

        // Both replicas, leader and standby, are alive and ready (the Deployment's probes).
        for (OperatorProcess r : replicas) {
            if (r.process.isAlive()) {
                assertThat(r.get("/healthz")).isEqualTo(200);
                assertThat(r.get("/readyz")).isEqualTo(200);
            }
        }
    }

    @Test
    @Order(Integer.MAX_VALUE - 1) // stops a replica: at the end
    void theStandbyTakesOverWhenTheLeaderDies() throws Exception {
        await().atMost(Manifests.TIMEOUT).until(() -> leader() != null);
        OperatorProcess old = leader();
        String oldHolder = leaseHolder();
        // SIGKILL: a crashed leader or a lost node. The standby must take the Lease once it
        // expires.
        old.process.kill();
        await().atMost(Duration.ofSeconds(90))
                .until(
                        () ->
                                leaseHolder() != null
                                        && !leaseHolder().equals(oldHolder)
                                        && leader() != null);
        // The new leader reconciles.
        admin.resource(job(ns, "after", 1, null)).create();
        awaitGang("after", 1, 1);
        awaitPhase("after", "Running");
    }

    /**
     * On SIGTERM (rolling update, drain) the leader must exit promptly so the standby takes over.
     * Found by this suite: JOSDK's stopLeading callback called System.exit(1) (exitOnStopLeading
     * defaults to true) from inside the shutdown hook, and the process hung until the kubelet
     * killed it; fixed in PhoenixOperator (withExitOnStopLeading(false); the operator exits by
     * itself only when it loses the lease while running).
     */
    @Test
    @Order(Integer.MAX_VALUE)
    void theLeaderExitsPromptlyOnSigterm() throws Exception {
        await().atMost(Manifests.TIMEOUT).until(() -> leader() != null);
        OperatorProcess old = leader();
        boolean exited = old.terminate(Duration.ofSeconds(30));
        assertThat(exited).as("leader exited within 30 s of SIGTERM; log:%n%s", old.log()).isTrue();
    }

    @Test
    void ttlAfterFinishedDeletesTheJob() {
        admin.resource(job(ns, "short", 1, 0)).create();
        awaitGang("short", 1, 1);
        awaitPhase("short", "Running");
        kwok.exit(
                admin.pods().inNamespace(ns).withName("short-worker-0").require(),
                0,
                "{\"result\":\"Succeeded\",\"step\":10}");
        // trainingjobs delete (act/Actuator, Action.DeleteJob).
        await().atMost(Manifests.TIMEOUT).until(() -> get("short") == null);
    }

    @Test
    void theOperatorIsRefusedWhatItMustNotDo() {
        KubernetesClient op = operatorClient;
        admin.resource(
                        new ConfigMapBuilder()
                                .withNewMetadata()
                                .withName("someone-elses")
                                .withNamespace(ns)
                                .endMetadata()
                                .addToData("k", "v")
                                .build())
                .create();
        // Secrets: never read, never written.
        forbidden(() -> op.secrets().inNamespace(ns).list());
        forbidden(() -> op.secrets().inNamespace(ns).withName("any").get());
        forbidden(
                () ->
                        op.secrets()
                                .inNamespace(ns)
                                .resource(
                                        new SecretBuilder()
                                                .withNewMetadata()
                                                .withName("x")
                                                .endMetadata()
                                                .build())
                                .create());
        // Workloads other than pods.
        forbidden(() -> op.apps().deployments().inNamespace(ns).list());
        forbidden(
                () ->
                        op.apps()
                                .deployments()
                                .inNamespace(ns)
                                .resource(
                                        new DeploymentBuilder()
                                                .withNewMetadata()
                                                .withName("x")
                                                .endMetadata()
                                                .withNewSpec()
                                                .withNewSelector()
                                                .addToMatchLabels("a", "b")
                                                .endSelector()
                                                .withNewTemplate()
                                                .withNewMetadata()
                                                .addToLabels("a", "b")
                                                .endMetadata()
                                                .withNewSpec()
                                                .addNewContainer()
                                                .withName("c")
                                                .withImage("busybox")
                                                .endContainer()
                                                .endSpec()
                                                .endTemplate()
                                                .endSpec()
                                                .build())
                                .create());
        forbidden(() -> op.batch().v1().jobs().inNamespace(ns).list());
        // ConfigMaps: it creates and reads them, but never deletes one.
        forbidden(() -> op.configMaps().inNamespace(ns).withName("someone-elses").delete());
        // The spec of a TrainingJob is the user's; only its status is written.
        admin.resource(job(ns, "mine", 1, null)).create();
        awaitGang("mine", 1, 1);
        forbidden(
                () ->
                        op.resources(TrainingJob.class)
                                .inNamespace(ns)
                                .withName("mine")
                                .edit(
                                        j -> {
                                            j.getSpec().setSuspend(true);
                                            return j;
                                        }));
        forbidden(
                () ->
                        op.resources(TrainingJob.class)
                                .inNamespace(ns)
                                .resource(job(ns, "new", 1, null))
                                .create());
        // No cluster-level power: CRDs, cluster roles, namespaces.
        forbidden(
                () ->
                        op.apiextensions()
                                .v1()
                                .customResourceDefinitions()
                                .withName("trainingjobs.phoenix.dev")
                                .delete());
        forbidden(
                () ->
                        op.rbac()
                                .clusterRoles()
                                .resource(
                                        new ClusterRoleBuilder()
                                                .withNewMetadata()
                                                .withName("phoenix-evil")
                                                .endMetadata()
                                                .build())
                                .create());
        forbidden(() -> op.namespaces().withName(ns).delete());
        // Escalation prevention holds: it can create the trainer's kind of Role, but not one
        // granting what it
        // lacks itself (secrets) - no `escalate`/`bind` was granted.
        forbidden(
                () ->
                        op.rbac()
                                .roles()
                                .inNamespace(ns)
                                .resource(
                                        new RoleBuilder()
                                                .withNewMetadata()
                                                .withName("steal-secrets")
                                                .endMetadata()
                                                .addNewRule()
                                                .withApiGroups("")
                                                .withResources("secrets")
                                                .withVerbs("get")
                                                .endRule()
                                                .build())
                                .create());
        // Leases only in its own namespace.
        forbidden(() -> op.leases().inNamespace(ns).list());
        forbidden(() -> op.leases().inNamespace(OPERATOR_NS).withName("another-lock").get());
        // No exec into pods.
        assertThat(allowed(op, ns, "create", "", "pods", "exec")).isFalse();
        assertThat(allowed(op, ns, "create", "", "pods", null)).isTrue();
    }

    @Test
    void theTrainerReachesItsOwnReportConfigMapAndNothingElse() {
        admin.resource(job(ns, "a", 1, null)).create();
        admin.resource(job(ns, "b", 1, null)).create();
        awaitGang("a", 1, 1);
        awaitGang("b", 1, 1);
        await().atMost(Manifests.TIMEOUT)
                .until(
                        () ->
                                admin.rbac()
                                                .roleBindings()
                                                .inNamespace(ns)
                                                .withName("a-trainer")
                                                .get()
                                        != null);

        try (KubernetesClient trainer = cp.clientFor(ns, "a-trainer")) {
            // get, patch, update of its own ConfigMap (what the trainer's reporter does).
            ConfigMap own = trainer.configMaps().inNamespace(ns).withName("a-report").get();
            assertThat(own).isNotNull();
            trainer.configMaps()
                    .inNamespace(ns)
                    .withName("a-report")
                    .edit(
                            cm -> { // PATCH
                                cm.setData(new HashMap<>(Map.of("progress", "{\"step\":1}")));
                                return cm;
                            });
            ConfigMap fresh = trainer.configMaps().inNamespace(ns).withName("a-report").get();
            fresh.getData().put("progress", "{\"step\":2}");
            trainer.configMaps().inNamespace(ns).resource(fresh).update(); // PUT
            assertThat(admin.configMaps().inNamespace(ns).withName("a-report").get().getData())
                    .containsEntry("progress", "{\"step\":2}");

            // Another job's ConfigMap.
            forbidden(() -> trainer.configMaps().inNamespace(ns).withName("b-report").get());
            forbidden(
                    () ->
                            trainer.configMaps()
                                    .inNamespace(ns)
                                    .withName("b-report")
                                    .edit(
                                            cm -> {
                                                cm.setData(Map.of("checkpoint", "{}"));
                                                return cm;
                                            }));
            // Listing, creating or deleting ConfigMaps, even its own.
            forbidden(() -> trainer.configMaps().inNamespace(ns).list());
            forbidden(() -> trainer.configMaps().inNamespace(ns).withName("a-report").delete());
            forbidden(
                    () ->
                            trainer.configMaps()
                                    .inNamespace(ns)
                                    .resource(
                                            new ConfigMapBuilder()
                                                    .withNewMetadata()
                                                    .withName("a-report-2")
                                                    .endMetadata()
                                                    .build())
                                    .create());
            // Any pod, its own included.
            forbidden(() -> trainer.pods().inNamespace(ns).withName("a-worker-0").get());
            forbidden(() -> trainer.pods().inNamespace(ns).list());
            forbidden(() -> trainer.pods().inNamespace(ns).withName("b-worker-0").delete());
            // Any TrainingJob, its own included.
            forbidden(
                    () -> trainer.resources(TrainingJob.class).inNamespace(ns).withName("a").get());
            forbidden(() -> trainer.resources(TrainingJob.class).inNamespace(ns).list());
            forbidden(
                    () ->
                            trainer.resources(TrainingJob.class)
                                    .inNamespace(ns)
                                    .withName("a")
                                    .delete());
            // Secrets, and its own RBAC.
            forbidden(() -> trainer.secrets().inNamespace(ns).list());
            forbidden(
                    () ->
                            trainer.rbac()
                                    .roles()
                                    .inNamespace(ns)
                                    .withName("a-trainer")
                                    .edit(
                                            r -> {
                                                r.getRules().get(0).setResourceNames(List.of());
                                                return r;
                                            }));
        }
    }

    // ---------------------------------------------------------------------------------------------------------

    private static void forbidden(ThrowingCallable call) {
        assertThatThrownBy(call)
                .isInstanceOfSatisfying(
                        KubernetesClientException.class,
                        e -> assertThat(e.getCode()).as(e.getMessage()).isEqualTo(403));
    }

    /**
     * SelfSubjectAccessReview as the given client (for subresources Fabric8 has no simple call
     * for).
     */
    private static boolean allowed(
            KubernetesClient as,
            String namespace,
            String verb,
            String group,
            String resource,
            String subresource) {
        var review =
                new io.fabric8.kubernetes.api.model.authorization.v1
                                .SelfSubjectAccessReviewBuilder()
                        .withNewSpec()
                        .withNewResourceAttributes()
                        .withNamespace(namespace)
                        .withVerb(verb)
                        .withGroup(group)
                        .withResource(resource)
                        .withSubresource(subresource)
                        .endResourceAttributes()
                        .endSpec()
                        .build();
        return as.authorization()
                .v1()
                .selfSubjectAccessReview()
                .create(review)
                .getStatus()
                .getAllowed();
    }

    static TrainingJob job(String namespace, String name, int replicas, Integer ttl) {
        TrainingJob job = OperatorHarness.job(namespace, name, replicas);
        job.getSpec().setTtlSecondsAfterFinished(ttl);
        return job;
    }

    private List<Pod> awaitGang(String job, int attempt, int replicas) {
        await().atMost(Manifests.TIMEOUT)
                .pollInterval(100, TimeUnit.MILLISECONDS)
                .until(() -> podsOfAttempt(job, attempt).size() == replicas);
        return podsOfAttempt(job, attempt).stream()
                .sorted((a, b) -> a.getMetadata().getName().compareTo(b.getMetadata().getName()))
                .toList();
    }

    private List<Pod> podsOfAttempt(String job, int attempt) {
        return admin
                .pods()
                .inNamespace(ns)
                .withLabel("phoenix.dev/job", job)
                .list()
                .getItems()
                .stream()
                .filter(
                        p ->
                                Integer.toString(attempt)
                                        .equals(
                                                p.getMetadata()
                                                        .getLabels()
                                                        .get("phoenix.dev/attempt")))
                .filter(p -> p.getMetadata().getDeletionTimestamp() == null)
                .toList();
    }

    private TrainingJob get(String name) {
        return admin.resources(TrainingJob.class).inNamespace(ns).withName(name).get();
    }

    private void awaitPhase(String name, String phase) {
        await().atMost(Manifests.TIMEOUT)
                .until(
                        () -> {
                            TrainingJob j = get(name);
                            return j != null
                                    && j.getStatus() != null
                                    && j.getStatus().getPhase() != null
                                    && j.getStatus().getPhase().name().equals(phase);
                        });
    }

    private boolean hasEvent(String job, String reason) {
        return admin.v1().events().inNamespace(ns).list().getItems().stream()
                .anyMatch(
                        e ->
                                job.equals(e.getInvolvedObject().getName())
                                        && reason.equals(e.getReason()));
    }
}
