package dev.phoenix.trainer.checkpoint;

/**
 * Everything of the training state that is not a tensor. With counter-based randomness the RNG
 * state, the data cursor, the schedule position and the optimizer iteration are all equal to the
 * step; they are still recorded separately so that the manifest says what each one is and the
 * loader can check them.
 */
public record NonTensorState(
        long step, Model model, Optimizer optimizer, Schedule schedule, Data data, Rng rng) {

    public record Model(String type, int input, int hidden, int layers, int classes) {}

    public record Optimizer(
            String type,
            double beta1,
            double beta2,
            double eps,
            double weightDecay,
            long iteration) {}

    public record Schedule(
            String type,
            double baseLr,
            double minLr,
            long warmupSteps,
            long totalSteps,
            long position) {}

    public record Data(String generator, long seed, long cursor, int globalBatch) {}

    public record Rng(String type, long seed, long counter) {}
}
