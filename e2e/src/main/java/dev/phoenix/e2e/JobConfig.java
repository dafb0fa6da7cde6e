package dev.phoenix.e2e;

import java.util.ArrayList;
import java.util.List;

/**
 * One training job's shape: what the trainer computes ({@link #trainerArgs}) and how Phoenix runs
 * it. Two jobs with equal {@link #stateKey()} must end in bit-identical state.
 */
public record JobConfig(
        int replicas,
        int steps,
        int hidden,
        int batch,
        long seed,
        int stepSleepMs,
        int intervalSteps,
        int keepLatest,
        int backoffLimit,
        int maxPreemptions,
        long graceSeconds) {

    public static JobConfig small(int replicas, int steps) {
        return new JobConfig(replicas, steps, 32, 32, 42, 40, 20, 3, 3, 20, 10);
    }

    public JobConfig withSeed(long s) {
        return new JobConfig(
                replicas,
                steps,
                hidden,
                batch,
                s,
                stepSleepMs,
                intervalSteps,
                keepLatest,
                backoffLimit,
                maxPreemptions,
                graceSeconds);
    }

    public JobConfig withHidden(int h) {
        return new JobConfig(
                replicas,
                steps,
                h,
                batch,
                seed,
                stepSleepMs,
                intervalSteps,
                keepLatest,
                backoffLimit,
                maxPreemptions,
                graceSeconds);
    }

    public JobConfig withStepSleepMs(int ms) {
        return new JobConfig(
                replicas,
                steps,
                hidden,
                batch,
                seed,
                ms,
                intervalSteps,
                keepLatest,
                backoffLimit,
                maxPreemptions,
                graceSeconds);
    }

    public JobConfig withKeepLatest(int k) {
        return new JobConfig(
                replicas,
                steps,
                hidden,
                batch,
                seed,
                stepSleepMs,
                intervalSteps,
                k,
                backoffLimit,
                maxPreemptions,
                graceSeconds);
    }

    public JobConfig withLimits(int backoff, int preemptions) {
        return new JobConfig(
                replicas,
                steps,
                hidden,
                batch,
                seed,
                stepSleepMs,
                intervalSteps,
                keepLatest,
                backoff,
                preemptions,
                graceSeconds);
    }

    /**
     * The flags that decide the training state (the step sleep does not: it only paces the run).
     */
    public List<String> modelArgs() {
        return List.of(
                "--steps",
                Integer.toString(steps),
                "--hidden",
                Integer.toString(hidden),
                "--batch",
                Integer.toString(batch),
                "--seed",
                Long.toString(seed));
    }

    public List<String> trainerArgs() {
        List<String> a = new ArrayList<>(modelArgs());
        a.addAll(List.of("--step-sleep-ms", Integer.toString(stepSleepMs)));
        return a;
    }

    /** Same key, same final stateDigest. */
    public String stateKey() {
        return "ws=" + replicas + " " + String.join(" ", modelArgs());
    }
}
