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
     * Creates {@code n} workloads of one pod each in {@code ns} at once (the "1,000 one-pod jobs"
     * measurement), each named {@code <job()>-<i>}; its calls go out {@link #CREATE_CALLS} at a
     * time, as a user's script or a pipeline would send them.
     */
    void startMany(String ns, int n) throws Exception;

    /** Creates in flight at once in {@link #startMany}. */
    int CREATE_CALLS = 16;

    /**
     * Runs {@code create} for 0 … n-1 with {@link #CREATE_CALLS} in flight; fails on the first
     * error.
     */
    static void createAll(int n, java.util.function.IntConsumer create) throws Exception {
        var pool = java.util.concurrent.Executors.newFixedThreadPool(CREATE_CALLS);
        try {
            java.util.List<java.util.concurrent.Future<?>> fs = new java.util.ArrayList<>();
            for (int i = 0; i < n; i++) {
                int k = i;
                fs.add(pool.submit(() -> create.accept(k)));
            }
            for (var f : fs) {
                f.get();
            }
        } finally {
            pool.shutdownNow();
        }
    }

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
