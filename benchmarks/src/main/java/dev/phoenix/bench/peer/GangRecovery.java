package dev.phoenix.bench.peer;

import dev.phoenix.bench.PodRecorder;
import java.util.Collection;
import java.util.List;
import java.util.Set;

/**
 * One preemption's timeline as this JVM's pod watch saw it, in ms from the moment the disruption
 * became visible (the victim's {@code DisruptionTarget} condition or deletion timestamp): the pods
 * that had to go are gone, every replacement is created, every replacement runs.
 */
record GangRecovery(double issuedToObserved, double oldGone, double created, double running) {

    /**
     * Null when the watch missed a piece of the timeline (the preemption is then left out and
     * counted).
     *
     * @param before the uids of the gang before the disruption
     * @param leaving the uids that had to go (the whole gang, or only the victim)
     * @param issued System.nanoTime() when the eviction was sent
     */
    static GangRecovery of(
            Collection<PodRecorder.Trace> traces,
            Set<String> before,
            Set<String> leaving,
            String victim,
            long issued) {
        long observed = 0;
        long gone = 0;
        long created = 0;
        long running = 0;
        for (PodRecorder.Trace t : traces) {
            if (t.uid.equals(victim)) {
                long seen = first(t.disruption, t.deletion);
                if (seen == 0) {
                    return null;
                }
                observed = seen;
            }
            if (leaving.contains(t.uid)) {
                if (t.gone == 0) {
                    return null;
                }
                gone = Math.max(gone, t.gone);
            } else if (!before.contains(t.uid) && t.added > issued) {
                if (t.running == 0) {
                    return null;
                }
                created = Math.max(created, t.added);
                running = Math.max(running, t.running);
            }
        }
        if (observed == 0 || created == 0) {
            return null;
        }
        return new GangRecovery(
                ms(observed - issued),
                ms(gone - observed),
                ms(created - observed),
                ms(running - observed));
    }

    private static long first(long a, long b) {
        if (a == 0) {
            return b;
        }
        return b == 0 ? a : Math.min(a, b);
    }

    private static double ms(long nanos) {
        return nanos / 1e6;
    }

    static List<Double> col(
            List<GangRecovery> rs, java.util.function.ToDoubleFunction<GangRecovery> f) {
        return rs.stream().map(r -> f.applyAsDouble(r)).toList();
    }
}
