package dev.phoenix.trainer.report;

import com.fasterxml.jackson.annotation.JsonInclude;

/** JSON documents of the report ConfigMap and of the termination message (docs/contract.md). */
public final class Reports {
    private Reports() {}

    public static final String CHECKPOINT_KEY = "checkpoint";
    public static final String PROGRESS_KEY = "progress";
    public static final String INVENTORY_KEY = "inventory";

    /**
     * {@code checkpoint} key; with {@code result} it is also the termination message after SIGTERM.
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record CheckpointReport(
            String result,
            long step,
            String digest,
            String stateDigest,
            int attempt,
            String timeline,
            String time) {
        public CheckpointReport withResult(String r) {
            return new CheckpointReport(r, step, digest, stateDigest, attempt, timeline, time);
        }

        public CheckpointReport withTime(String t) {
            return new CheckpointReport(result, step, digest, stateDigest, attempt, timeline, t);
        }
    }

    /**
     * {@code inventory} key: the committed, verified checkpoints on disk, newest first, at most
     * {@link dev.phoenix.trainer.checkpoint.Inventory#LIMIT}; {@code jobUid} says which job wrote
     * it; {@code resumedFrom} is the step this attempt actually resumed from (newer than the
     * operator's step when rank 0 found a newer checkpoint of the timeline, see {@code
     * --resume-exact}).
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Inventory(
            String timeline,
            int attempt,
            String jobUid,
            String time,
            java.util.List<dev.phoenix.trainer.checkpoint.Inventory.Entry> checkpoints,
            Long resumedFrom) {}

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Progress(long step, int attempt, String timeline, String time) {}

    /** Termination message for exit 0, 65, 143 without checkpoint, and 1. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Termination(
            String result, Long step, String stateDigest, String digest, String message) {
        /**
         * Kubernetes keeps at most 4096 bytes of a termination message: keep the JSON well below
         * that.
         */
        public static final int MAX_MESSAGE = 3000;

        public Termination {
            if (message != null && message.length() > MAX_MESSAGE) {
                message = message.substring(0, MAX_MESSAGE) + "…";
            }
        }
    }
}
