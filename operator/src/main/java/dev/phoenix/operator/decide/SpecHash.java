package dev.phoenix.operator.decide;

import dev.phoenix.api.v1alpha1.TrainingJobSpec;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A short hash of what a worker pod is built from besides the contract variables: spec.template and
 * spec.checkpoint. Recorded per attempt, so a change of a running job is seen and applied with a
 * visible gang restart (event SpecChanged), never silently at some later restart.
 */
public final class SpecHash {
    private static final KubernetesSerialization SERIALIZATION = new KubernetesSerialization();

    private SpecHash() {}

    public static String of(TrainingJobSpec spec) {
        Map<String, Object> parts = new LinkedHashMap<>();
        parts.put("template", spec.getTemplate());
        parts.put("checkpoint", spec.getCheckpoint());
        try {
            byte[] d =
                    MessageDigest.getInstance("SHA-256")
                            .digest(SERIALIZATION.asJson(parts).getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(d, 0, 8);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
