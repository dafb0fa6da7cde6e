package dev.phoenix.trainer.optim;

/**
 * Linear warm-up to {@code baseLr} over {@code warmupSteps}, then cosine decay to {@code minLr} at
 * {@code totalSteps}. The position is the number of completed steps, so the schedule needs no state
 * of its own beyond the step.
 */
public record LrSchedule(double baseLr, double minLr, long warmupSteps, long totalSteps) {
    public static final String TYPE = "warmup-cosine";

    public double at(long position) {
        if (warmupSteps > 0 && position < warmupSteps) {
            return baseLr * (position + 1) / warmupSteps;
        }
        long span = Math.max(1, totalSteps - warmupSteps);
        double progress = Math.min(1.0, (double) (position - warmupSteps) / span);
        return minLr + 0.5 * (baseLr - minLr) * (1.0 + StrictMath.cos(Math.PI * progress));
    }
}
