package dev.phoenix.operator.observe;

/**
 * One worker pod as observed: its identity from labels, its classified outcome and the trainer's
 * last words.
 */
public record WorkerView(
        String name,
        int rank,
        int attempt,
        boolean deleting,
        boolean nodeGone,
        PodOutcome outcome,
        Report terminationReport) {}
