package dev.phoenix.operator.observe;

import com.fasterxml.jackson.databind.JsonNode;
import dev.phoenix.api.v1alpha1.CheckpointRecord;

/**
 * A checkpoint report from the trainer (ConfigMap key {@code checkpoint}, or the termination message
 * written on SIGTERM): {@code {"step","digest","stateDigest","attempt","timeline","time"}}.
 */
public record Report(long step, String digest, String stateDigest, Integer attempt, String timeline, String time) {

    /** @return the report, or null when the JSON is not a complete checkpoint report */
    public static Report fromJson(JsonNode node) {
        if (node == null || !node.hasNonNull("step") || !node.hasNonNull("timeline") || !node.hasNonNull("digest")) {
            return null;
        }
        return new Report(node.get("step").asLong(), node.get("digest").asText(),
                node.hasNonNull("stateDigest") ? node.get("stateDigest").asText() : null,
                node.hasNonNull("attempt") ? node.get("attempt").asInt() : null,
                node.get("timeline").asText(),
                node.hasNonNull("time") ? node.get("time").asText() : null);
    }

    public static Report parse(String json) {
        return fromJson(TerminationMessage.parse(json));
    }

    public CheckpointRecord toRecord() {
        return new CheckpointRecord(step, digest, stateDigest, attempt, timeline, time);
    }

    /** Progress report (ConfigMap key {@code progress}): {@code {"step","attempt","timeline","time"}}. */
    public record Progress(long step, Integer attempt, String timeline) {
        public static Progress parse(String json) {
            JsonNode node = TerminationMessage.parse(json);
            if (node == null || !node.hasNonNull("step")) {
                return null;
            }
            return new Progress(node.get("step").asLong(),
                    node.hasNonNull("attempt") ? node.get("attempt").asInt() : null,
                    node.hasNonNull("timeline") ? node.get("timeline").asText() : null);
        }
    }
}
