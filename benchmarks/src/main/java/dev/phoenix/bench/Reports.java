package dev.phoenix.bench;

import io.fabric8.kubernetes.client.KubernetesClient;
import java.time.Instant;
import java.util.HashMap;
import java.util.Map;

/** Writes the report ConfigMap as the trainer's rank 0 does (for simulated pods). */
final class Reports {
    private Reports() {}

    static void checkpoint(KubernetesClient client, String ns, String job, long step, int attempt) {
        String json =
                "{\"step\":"
                        + step
                        // digests in the trainer's format (sha256:<64 hex>), or the operator
                        // rejects the report
                        + ",\"digest\":\"sha256:"
                        + String.format("%064x", step)
                        + "\",\"stateDigest\":\"sha256:"
                        + String.format("%064x", step + 1_000_000)
                        + "\",\"attempt\":"
                        + attempt
                        + ",\"timeline\":\"t1\",\"time\":\""
                        + Instant.now()
                        + "\"}";
        for (int i = 0; i < 20; i++) {
            try {
                client.configMaps()
                        .inNamespace(ns)
                        .withName(job + "-report")
                        .edit(
                                cm -> {
                                    Map<String, String> d =
                                            new HashMap<>(
                                                    cm.getData() == null ? Map.of() : cm.getData());
                                    d.put("checkpoint", json);
                                    cm.setData(d);
                                    return cm;
                                });
                return;
            } catch (RuntimeException e) {
                try {
                    Thread.sleep(50);
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    return;
                }
            }
        }
    }
}
