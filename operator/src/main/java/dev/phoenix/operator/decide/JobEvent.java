package dev.phoenix.operator.decide;

/** A Kubernetes Event on the TrainingJob, so {@code kubectl describe tj} tells the story. */
public record JobEvent(boolean warning, String reason, String message) {
    public static JobEvent normal(String reason, String message) {
        return new JobEvent(false, reason, message);
    }

    public static JobEvent warning(String reason, String message) {
        return new JobEvent(true, reason, message);
    }
}
