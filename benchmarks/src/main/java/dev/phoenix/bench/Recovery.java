package dev.phoenix.bench;

import java.util.ArrayList;
import java.util.List;

/**
 * One preemption's timeline, from the watch events this JVM received (ms, relative to the moment
 * the preemption became observable: the victim's DisruptionTarget condition, or its deletion
 * timestamp).
 */
public record Recovery(
        String job,
        int oldAttempt,
        double issuedToObserved,
        double gangDeleted,
        double oldGone,
        double created,
        double running,
        double firstStep) {

    /**
     * Operator's own share: observed → whole gang deleted, plus old pods gone → new pods created.
     */
    public double operatorShare() {
        return gangDeleted + (created - oldGone);
    }

    /**
     * Kubelet's share (graceful termination: SIGTERM, the trainer's emergency checkpoint, exit,
     * removal).
     */
    public double terminationShare() {
        return oldGone - gangDeleted;
    }

    /**
     * Builds the timeline of job's attempt {@code oldAttempt} → {@code oldAttempt + 1}; null when
     * the watch did not see every piece (the row is then left out and counted).
     *
     * @param issued System.nanoTime() when the preemption request was sent
     * @param firstStepNanos System.nanoTime() when the new attempt's first step was seen (0 = not
     *     measured)
     */
    public static Recovery of(
            PodRecorder rec,
            String job,
            int oldAttempt,
            int replicas,
            long issued,
            long firstStepNanos) {
        List<PodRecorder.Trace> old = rec.of(job, oldAttempt);
        List<PodRecorder.Trace> fresh = rec.of(job, oldAttempt + 1);
        if (old.size() != replicas || fresh.size() != replicas) {
            return null;
        }
        long observed = Long.MAX_VALUE;
        long gangDeleted = 0;
        long gone = 0;
        for (PodRecorder.Trace t : old) {
            long o = t.disruption != 0 ? t.disruption : t.deletion;
            if (o != 0) {
                observed = Math.min(observed, o);
            }
            if (t.deletion == 0 || t.gone == 0) {
                return null;
            }
            gangDeleted = Math.max(gangDeleted, t.deletion);
            gone = Math.max(gone, t.gone);
        }
        long created = 0;
        long running = 0;
        for (PodRecorder.Trace t : fresh) {
            if (t.added == 0) {
                return null;
            }
            created = Math.max(created, t.added);
            running = t.running == 0 || running < 0 ? -1 : Math.max(running, t.running);
        }
        if (observed == Long.MAX_VALUE) {
            return null;
        }
        return new Recovery(
                job,
                oldAttempt,
                ms(observed - issued),
                ms(gangDeleted - observed),
                ms(gone - observed),
                ms(created - observed),
                running <= 0 ? Double.NaN : ms(running - observed),
                firstStepNanos == 0 ? Double.NaN : ms(firstStepNanos - observed));
    }

    private static double ms(long nanos) {
        return nanos / 1e6;
    }

    public static List<Double> col(
            List<Recovery> rs, java.util.function.ToDoubleFunction<Recovery> f) {
        List<Double> l = new ArrayList<>();
        for (Recovery r : rs) {
            l.add(f.applyAsDouble(r));
        }
        return l;
    }
}
