package dev.phoenix.trainer.dist;

import java.io.IOException;

/** What data-parallel ranks exchange. Rank 0 is the root of every operation. */
public interface Collective extends AutoCloseable {

    int rank();

    int worldSize();

    /**
     * Sums every rank's gradient vector and loss in rank order (0, 1, …, so the float sums are the
     * same every time) and ORs the ranks' stop requests; every rank gets the same result.
     */
    Reduced allReduce(float[] gradient, double loss, boolean stop) throws IOException;

    /** Rank 0 passes the payload and every rank returns it. */
    byte[] broadcast(byte[] payload) throws IOException;

    @Override
    void close();

    record Reduced(float[] sum, double loss, boolean stop) {}
}
