package dev.phoenix.operator.observe;

import com.fasterxml.jackson.databind.JsonNode;
import dev.phoenix.api.v1alpha1.CheckpointRecord;

/**
 * A checkpoint report from the trainer (ConfigMap key {@code checkpoint}, or the termination
 * message written on SIGTERM): {@code {"step","digest","stateDigest","attempt","timeline","time"}}.
 */
public record Report(
        long step,
        String digest,
        String stateDigest,
        Integer attempt,
        String timeline,
        String time) {

    /**
     * @return the report, or null when the JSON is not a complete checkpoint report
     */
    public static Report fromJson(JsonNode node) {
        if (node == null
                || !node.hasNonNull("step")
                || !node.hasNonNull("timeline")
                || !node.hasNonNull("digest")) {
            return null;
        }
        return new Report(
                node.get("step").asLong(),
                node.get("digest").asText(),
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

    /**
     * Inventory (ConfigMap key {@code inventory}): the committed, verified checkpoints on disk,
     * newest first, {@code
     * {"timeline","attempt","jobUid","time","checkpoints":[{"step","digest","stateDigest","timeline"}]}}.
     * Parsed as written; {@code ReportValidator} decides whether it is believed.
     */
    /**
     * {@code resumedFrom}: the step the attempt actually resumed from (newer than the operator's
     * when rank 0 found a newer checkpoint of the timeline on disk, PHOENIX_RESUME_EXACT=false).
     */
    public record Inventory(
            String timeline,
            Integer attempt,
            String jobUid,
            java.util.List<Entry> checkpoints,
            Long resumedFrom) {
        public record Entry(Long step, String digest, String stateDigest, String timeline) {}

        public static Inventory parse(String json) {
            JsonNode node = TerminationMessage.parse(json);
            if (node == null || !node.path("checkpoints").isArray()) {
                return null;
            }
            java.util.List<Entry> entries = new java.util.ArrayList<>();
            for (JsonNode e : node.get("checkpoints")) {
                entries.add(
                        new Entry(
                                e.hasNonNull("step") && e.get("step").canConvertToLong()
                                        ? e.get("step").asLong()
                                        : null,
                                e.hasNonNull("digest") ? e.get("digest").asText() : null,
                                e.hasNonNull("stateDigest") ? e.get("stateDigest").asText() : null,
                                e.hasNonNull("timeline") ? e.get("timeline").asText() : null));
            }
            return new Inventory(
                    node.hasNonNull("timeline") ? node.get("timeline").asText() : null,
                    node.hasNonNull("attempt") ? node.get("attempt").asInt() : null,
                    node.hasNonNull("jobUid") ? node.get("jobUid").asText() : null,
                    entries,
                    node.hasNonNull("resumedFrom") && node.get("resumedFrom").canConvertToLong()
                            ? node.get("resumedFrom").asLong()
                            : null);
        }
    }

    /**
     * Progress report (ConfigMap key {@code progress}): {@code
     * {"step","attempt","timeline","time"}}.
     */
    public record Progress(long step, Integer attempt, String timeline) {
        public static Progress parse(String json) {
            JsonNode node = TerminationMessage.parse(json);
            if (node == null || !node.hasNonNull("step")) {
                return null;
            }
            return new Progress(
                    node.get("step").asLong(),
                    node.hasNonNull("attempt") ? node.get("attempt").asInt() : null,
                    node.hasNonNull("timeline") ? node.get("timeline").asText() : null);
        }
    }
}
