package dev.phoenix.trainer.report;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;

/**
 * The report ConfigMap through the Fabric8 client: in-cluster configuration in a pod, the
 * kubeconfig ({@code KUBECONFIG}, {@code ~/.kube/config}) elsewhere. A write is a JSON merge patch
 * of one data key that carries {@code metadata.resourceVersion}, so the API server applies it only
 * if nobody wrote in between (409 otherwise) and never touches other keys, labels or owner
 * references. Needs only {@code get} and {@code patch} on that one ConfigMap.
 */
public final class Fabric8ConfigMapStore implements ConfigMapStore, AutoCloseable {
    private final KubernetesClient client;
    private final String namespace;
    private final String name;

    public Fabric8ConfigMapStore(String namespace, String name) {
        Config config =
                new ConfigBuilder(Config.autoConfigure(null))
                        .withNamespace(namespace)
                        .withRequestTimeout(10_000)
                        .withConnectionTimeout(5_000)
                        .withRequestRetryBackoffLimit(1)
                        .build();
        this.client = new KubernetesClientBuilder().withConfig(config).build();
        this.namespace = namespace;
        this.name = name;
    }

    public Fabric8ConfigMapStore(KubernetesClient client, String namespace, String name) {
        this.client = client;
        this.namespace = namespace;
        this.name = name;
    }

    @Override
    public Optional<Snapshot> get() {
        ConfigMap cm = client.configMaps().inNamespace(namespace).withName(name).get();
        if (cm == null) {
            return Optional.empty();
        }
        Map<String, String> data = cm.getData() == null ? Map.of() : new HashMap<>(cm.getData());
        return Optional.of(new Snapshot(data, cm.getMetadata().getResourceVersion()));
    }

    @Override
    public void put(Map<String, String> entries, String resourceVersion) throws ConflictException {
        ObjectNode patch = JsonNodeFactory.instance.objectNode();
        patch.putObject("metadata").put("resourceVersion", resourceVersion);
        ObjectNode data = patch.putObject("data");
        entries.forEach(data::put);
        try {
            client.configMaps()
                    .inNamespace(namespace)
                    .withName(name)
                    .patch(PatchContext.of(PatchType.JSON_MERGE), patch.toString());
        } catch (KubernetesClientException e) {
            if (e.getCode() == 409) {
                throw new ConflictException(e.getMessage());
            }
            throw e;
        }
    }

    @Override
    public String describe() {
        return "ConfigMap " + namespace + "/" + name;
    }

    @Override
    public void close() {
        client.close();
    }
}
