package dev.phoenix.api.v1alpha1;

/** Where a job stands. Terminal: Succeeded and Failed. */
public enum Phase {
    /** An attempt was started; not every worker runs yet. */
    Pending,
    /** Every worker of the current attempt runs. */
    Running,
    /** The gang is being torn down; the next attempt starts once every old pod is gone. */
    Restarting,
    /** spec.suspend is true and no worker runs. */
    Suspended,
    Succeeded,
    Failed;

    public boolean isTerminal() {
        return this == Succeeded || this == Failed;
    }
}
