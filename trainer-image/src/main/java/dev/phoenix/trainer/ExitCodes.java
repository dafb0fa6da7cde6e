package dev.phoenix.trainer;

/** Exit codes of the trainer (docs/design.md, docs/contract.md). */
public final class ExitCodes {
    public static final int SUCCEEDED = 0;
    public static final int FAILED = 1;
    public static final int USAGE = 2;
    public static final int CHECKPOINT_INVALID = 65;
    public static final int TERMINATED = 143;

    private ExitCodes() {}
}
