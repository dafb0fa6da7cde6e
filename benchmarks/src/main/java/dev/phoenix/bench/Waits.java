package dev.phoenix.bench;

import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

public final class Waits {
    private Waits() {}

    /**
     * Polls every 20 ms (reads only the benchmark's own state or one GET) until true; throws after
     * the timeout.
     */
    public static void until(int seconds, BooleanSupplier cond) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (true) {
            try {
                if (cond.getAsBoolean()) {
                    return;
                }
            } catch (RuntimeException e) {
                // not yet
            }
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("timed out after " + seconds + " s");
            }
            Thread.sleep(20);
        }
    }
}
