package dev.phoenix.trainer.data;

/**
 * Counter-based random numbers: every value is a pure function of (seed, stream, index), so the
 * random state of the trainer is fully described by its seed and the data cursor, and no RNG object
 * has to be saved. Implemented here (not {@code java.util.Random}/{@code SplittableRandom}) so that
 * the sequence is fixed by this code, not by the JDK version; uses {@link StrictMath} for the same
 * reason.
 */
public final class SplitMix64 {
    private long state;

    public SplitMix64(long seed) {
        this.state = seed;
    }

    public static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        return z ^ (z >>> 31);
    }

    /** A stream seed derived from a seed and any number of coordinates. */
    public static long derive(long seed, long... coords) {
        long h = mix(seed + 0x9e3779b97f4a7c15L);
        for (long c : coords) {
            h = mix(h ^ (c + 0x9e3779b97f4a7c15L + (h << 6) + (h >>> 2)));
        }
        return h;
    }

    public long nextLong() {
        state += 0x9e3779b97f4a7c15L;
        return mix(state);
    }

    /** Uniform in (0, 1]. */
    public double nextUnit() {
        return ((nextLong() >>> 11) + 1) * 0x1.0p-53;
    }

    private double spare;
    private boolean hasSpare;

    /**
     * Standard normal via Box-Muller, both outputs used in turn (deterministic for a given seed).
     */
    public double nextGaussian() {
        if (hasSpare) {
            hasSpare = false;
            return spare;
        }
        double u1 = nextUnit();
        double u2 = nextUnit();
        double r = StrictMath.sqrt(-2.0 * StrictMath.log(u1));
        double a = 2.0 * Math.PI * u2;
        spare = r * StrictMath.sin(a);
        hasSpare = true;
        return r * StrictMath.cos(a);
    }
}
