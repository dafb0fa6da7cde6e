package dev.phoenix.trainer;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import sun.misc.Signal;

/**
 * SIGTERM/SIGINT handling without JVM shutdown: the handler only records the request and its time;
 * the training thread finishes its step, checkpoints, writes the termination message and then calls
 * {@code System.exit(143)} itself. Because the default handler is replaced, the JVM cannot exit
 * under the training thread while a checkpoint is being written and fsynced.
 */
public final class StopSignal {
    private static final Logger log = LoggerFactory.getLogger(StopSignal.class);
    private volatile boolean requested;
    private volatile long requestedAtNanos;
    private volatile String reason;

    public void install() {
        for (String name : new String[] {"TERM", "INT"}) {
            try {
                Signal.handle(new Signal(name), sig -> request("SIG" + sig.getName()));
            } catch (IllegalArgumentException e) {
                log.warn("cannot handle SIG{}: {}", name, e.getMessage());
            }
        }
    }

    public void request(String why) {
        if (!requested) {
            requestedAtNanos = System.nanoTime();
            reason = why;
            requested = true;
            log.warn("{} received: finishing the current step, then checkpoint and exit", why);
        }
    }

    public boolean requested() {
        return requested;
    }

    public String reason() {
        return reason;
    }

    /** Seconds since the stop request (0 if none). */
    public double secondsSinceRequest() {
        return requested ? (System.nanoTime() - requestedAtNanos) / 1e9 : 0;
    }
}
