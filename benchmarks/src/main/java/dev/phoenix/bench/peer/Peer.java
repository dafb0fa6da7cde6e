package dev.phoenix.bench.peer;

/**
 * One way a user could run a gang of workers that must come back after a preemption, measured by
 * {@link PeerRecoveryBench} on the same control plane, with the same simulated pods (KWOK) and the
 * same disruption (the Eviction API), so that only the controller differs.
 */
interface Peer extends AutoCloseable {
    /** Row label. */
    String name();

    /**
     * The value of {@code phoenix.dev/job} on every pod of the gang (what the recorder watches).
     */
    String job();

    /** Creates the workload: a gang of {@code replicas} pods in {@code ns}. */
    void start(String ns, int replicas) throws Exception;

    /**
     * True when a preemption of one pod restarts the whole gang (Phoenix, the bare client); false
     * when only the disrupted pod is replaced (the Job controller: its pods are independent).
     */
    boolean restartsWholeGang();

    /** True when the peer is ready for the next disruption (Phoenix: the job is Running again). */
    default boolean ready() {
        return true;
    }

    /** How many of the requested preemptions this peer gets (all, unless it cannot take them). */
    default int preemptions(int requested) {
        return requested;
    }

    /** A line for the table's notes: what the peer counted, if anything worth saying. */
    default String note() {
        return "";
    }

    @Override
    default void close() throws Exception {}
}
