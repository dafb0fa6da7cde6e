package dev.phoenix.operator.it;

import static org.awaitility.Awaitility.await;

import dev.phoenix.api.v1alpha1.CheckpointSpec;
import dev.phoenix.api.v1alpha1.TrainingJob;
import dev.phoenix.api.v1alpha1.TrainingJobSpec;
import dev.phoenix.operator.PhoenixOperator;
import dev.phoenix.operator.config.OperatorConfig;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodTemplateSpecBuilder;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.io.FileInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

/** Shared set-up for operator integration tests: the committed CRD, a running operator, helpers. */
public final class OperatorHarness {
    static final Duration TIMEOUT = Duration.ofSeconds(60);

    private OperatorHarness() {}

    static Path repoRoot() {
        Path p = Path.of("").toAbsolutePath();
        while (p != null && !Files.exists(p.resolve("crds"))) {
            p = p.getParent();
        }
        if (p == null) {
            throw new IllegalStateException(
                    "cannot find the repository root (a directory with crds/)");
        }
        return p;
    }

    /** Installs the CRD users install: the committed file, not one generated on the fly. */
    static void installCrd(KubernetesClient client) throws IOException {
        try (var in =
                new FileInputStream(
                        repoRoot().resolve("crds/trainingjobs.phoenix.dev-v1.yml").toFile())) {
            List<HasMetadata> items = client.load(in).items();
            for (HasMetadata item : items) {
                CustomResourceDefinition crd = (CustomResourceDefinition) item;
                client.resource(crd).createOr(existing -> existing.update());
                await().atMost(TIMEOUT)
                        .until(
                                () -> {
                                    var c =
                                            client.apiextensions()
                                                    .v1()
                                                    .customResourceDefinitions()
                                                    .withName(crd.getMetadata().getName())
                                                    .get();
                                    return c != null
                                            && c.getStatus() != null
                                            && c.getStatus().getConditions() != null
                                            && c.getStatus().getConditions().stream()
                                                    .anyMatch(
                                                            x ->
                                                                    "Established"
                                                                                    .equals(
                                                                                            x
                                                                                                    .getType())
                                                                            && "True"
                                                                                    .equals(
                                                                                            x
                                                                                                    .getStatus()));
                                });
            }
        }
    }

    static PhoenixOperator startOperator(KubernetesClient client) throws IOException {
        return PhoenixOperator.start(
                client, new OperatorConfig().withLeaderElection(false).withHttpPort(0));
    }

    /**
     * A job of {@code replicas} trainer pods, checkpoints every 10 steps on a hostPath, grace
     * period 5 s.
     */
    public static TrainingJob job(String namespace, String name, int replicas) {
        TrainingJob job = new TrainingJob();
        job.getMetadata().setName(name);
        job.getMetadata().setNamespace(namespace);
        TrainingJobSpec spec = new TrainingJobSpec();
        spec.setReplicas(replicas);
        CheckpointSpec ckpt = new CheckpointSpec();
        ckpt.setPath("/checkpoints");
        ckpt.setIntervalSteps(10);
        spec.setCheckpoint(ckpt);
        spec.setTemplate(
                new PodTemplateSpecBuilder()
                        .withNewSpec()
                        .withTerminationGracePeriodSeconds(5L)
                        .addNewContainer()
                        .withName("trainer")
                        .withImage("phoenix/trainer:0.1.0")
                        .addNewVolumeMount()
                        .withName("ckpt")
                        .withMountPath("/checkpoints")
                        .endVolumeMount()
                        .endContainer()
                        .addNewVolume()
                        .withName("ckpt")
                        .withNewHostPath()
                        .withPath("/var/lib/phoenix-test/" + namespace + "/" + name)
                        .withType("DirectoryOrCreate")
                        .endHostPath()
                        .endVolume()
                        .endSpec()
                        .build());
        job.setSpec(spec);
        return job;
    }

    static List<Pod> pods(KubernetesClient client, String ns, String job) {
        return client.pods().inNamespace(ns).withLabel("phoenix.dev/job", job).list().getItems();
    }

    static List<Pod> podsOfAttempt(KubernetesClient client, String ns, String job, int attempt) {
        return pods(client, ns, job).stream()
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

    /** Waits until the given attempt's whole gang exists and returns it, ordered by rank. */
    static List<Pod> awaitGang(
            KubernetesClient client, String ns, String job, int attempt, int replicas) {
        await().atMost(TIMEOUT)
                .pollInterval(100, TimeUnit.MILLISECONDS)
                .until(() -> podsOfAttempt(client, ns, job, attempt).size() == replicas);
        return podsOfAttempt(client, ns, job, attempt).stream()
                .sorted((a, b) -> a.getMetadata().getName().compareTo(b.getMetadata().getName()))
                .toList();
    }

    static Map<String, String> env(Pod pod) {
        return pod.getSpec().getContainers().get(0).getEnv().stream()
                .filter(e -> e.getValue() != null)
                .collect(Collectors.toMap(EnvVar::getName, EnvVar::getValue));
    }

    static TrainingJob get(KubernetesClient client, String ns, String name) {
        return client.resources(TrainingJob.class).inNamespace(ns).withName(name).get();
    }

    static Optional<String> phase(KubernetesClient client, String ns, String name) {
        TrainingJob j = get(client, ns, name);
        return j == null || j.getStatus() == null || j.getStatus().getPhase() == null
                ? Optional.empty()
                : Optional.of(j.getStatus().getPhase().name());
    }

    /** Writes a checkpoint report into the job's report ConfigMap, as the trainer's rank 0 does. */
    static void report(
            KubernetesClient client,
            String ns,
            String job,
            long step,
            int attempt,
            String timeline) {
        // Digests in the trainer's format (sha256:<64 hex>), derived from the step so each is
        // distinct.
        String json =
                "{\"step\":"
                        + step
                        + ",\"digest\":\"sha256:"
                        + String.format("%064x", step)
                        + "\",\"stateDigest\":\"sha256:"
                        + String.format("%064x", step + 1_000_000)
                        + "\",\"attempt\":"
                        + attempt
                        + ",\"timeline\":\""
                        + timeline
                        + "\",\"time\":\"2026-11-23T10:00:00Z\"}";
        client.configMaps()
                .inNamespace(ns)
                .withName(job + "-report")
                .edit(
                        cm -> {
                            cm.setData(
                                    new java.util.HashMap<>(
                                            cm.getData() == null ? Map.of() : cm.getData()));
                            cm.getData().put("checkpoint", json);
                            return cm;
                        });
    }
}
