package dev.phoenix.operator.observe;

/**
 * What a worker pod's state means for the gang. The classification follows docs/design.md
 * "Preemption versus failure": the platform ending a pod is a preemption, the program ending itself
 * non-zero is a failure, exit 65 is the trainer refusing an invalid checkpoint.
 */
public record PodOutcome(
        Kind kind, String reason, String message, Integer exitCode, Long invalidStep) {
    public enum Kind {
        /** No pod object (never created, or vanished). */
        MISSING,
        /** Not yet running: unscheduled, pulling, initialising. */
        PENDING,
        RUNNING,
        SUCCEEDED,
        /**
         * Ended by the platform: DisruptionTarget, eviction, node shutdown or loss, deletion by
         * someone else.
         */
        PREEMPTED,
        /** The program exited non-zero by itself. */
        FAILED,
        /**
         * The trainer exited 65: the checkpoint it was told to resume from is missing or invalid.
         */
        CHECKPOINT_INVALID
    }

    /**
     * Failure reason of a rank whose collective broke because a peer vanished (the trainer's
     * termination result {@code PeerLost}): the peer's own fate, seen later, says whether the
     * attempt was preempted or failed.
     */
    public static final String PEER_LOST = "PeerLost";

    /**
     * Termination result of a trainer refusing a directory that holds another job's checkpoints
     * (exit 65).
     */
    public static final String DIRECTORY_IN_USE = "CheckpointDirectoryInUse";

    public static PodOutcome of(Kind kind) {
        return new PodOutcome(kind, null, null, null, null);
    }

    public static PodOutcome preempted(String reason, String message) {
        return new PodOutcome(Kind.PREEMPTED, reason, message, null, null);
    }

    public static PodOutcome failed(int exitCode, String reason, String message) {
        return new PodOutcome(Kind.FAILED, reason, message, exitCode, null);
    }

    public static PodOutcome checkpointInvalid(Long step, String message) {
        return checkpointInvalid("CheckpointInvalid", step, message);
    }

    public static PodOutcome checkpointInvalid(String reason, Long step, String message) {
        return new PodOutcome(Kind.CHECKPOINT_INVALID, reason, message, 65, step);
    }

    /** Pending for a reason it will not get over by itself: the pod's own reason and message. */
    public static PodOutcome cannotStart(String reason, String message) {
        return new PodOutcome(Kind.PENDING, reason, message, null, null);
    }

    public boolean ended() {
        return kind == Kind.SUCCEEDED
                || kind == Kind.PREEMPTED
                || kind == Kind.FAILED
                || kind == Kind.CHECKPOINT_INVALID;
    }
}
