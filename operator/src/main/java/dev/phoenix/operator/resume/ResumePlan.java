package dev.phoenix.operator.resume;

/**
 * Where the next attempt starts: {@code step} 0 means from scratch (only the pod factory turns that
 * into the wire value {@code -1} of PHOENIX_RESUME_STEP). {@code newTimeline} is true when the gang
 * branches off: the trainer moves every directory newer than {@code step} aside, so status forgets
 * them too.
 */
public record ResumePlan(
        long step, boolean pinned, String timeline, boolean newTimeline, Cause cause) {
    public enum Cause {
        /** spec.resumeStep was set or changed: exactly that step, never another. */
        PINNED,
        /**
         * The last attempt's checkpoint was refused: the newest older one on disk (the inventory).
         */
        FALLBACK,
        /**
         * A restart after a preemption, failure, suspend or spec change: the newest valid
         * checkpoint.
         */
        LATEST
    }

    /**
     * True when the trainer must load exactly {@code step} (PHOENIX_RESUME_EXACT): a pin or a
     * fallback. A LATEST step is only the newest Phoenix knows of; rank 0 may find a newer verified
     * checkpoint of the same timeline whose report had not arrived, and resumes from it instead of
     * moving it aside.
     */
    public boolean exact() {
        return cause != Cause.LATEST;
    }

    public boolean fromScratch() {
        return step <= 0;
    }
}
