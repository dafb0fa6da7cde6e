package dev.phoenix.trainer.checkpoint;

/** A checkpoint that is missing, incomplete, corrupt or does not fit the model. */
public final class CheckpointException extends Exception {
    private final long step;

    public CheckpointException(long step, String message) {
        super(message);
        this.step = step;
    }

    public CheckpointException(long step, String message, Throwable cause) {
        super(message, cause);
        this.step = step;
    }

    public long step() {
        return step;
    }
}
