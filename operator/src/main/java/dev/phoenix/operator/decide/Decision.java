package dev.phoenix.operator.decide;

import dev.phoenix.api.v1alpha1.TrainingJobStatus;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/** The outcome of {@link Decider}: the status to persist first, then the actions and events. */
public final class Decision {
    private final TrainingJobStatus status;
    private final List<Action> actions = new ArrayList<>();
    private final List<JobEvent> events = new ArrayList<>();
    private Duration requeueAfter;

    /**
     * Set when this decision starts a recovery: from the end of the last attempt to its
     * replacement.
     */
    private Duration recoveryLatency;

    private String endedBy;

    Decision(TrainingJobStatus status) {
        this.status = status;
    }

    public TrainingJobStatus status() {
        return status;
    }

    public List<Action> actions() {
        return actions;
    }

    public List<JobEvent> events() {
        return events;
    }

    public Duration requeueAfter() {
        return requeueAfter;
    }

    public Duration recoveryLatency() {
        return recoveryLatency;
    }

    /** Preemption, Failure, InvalidCheckpoint… when this decision ended an attempt. */
    public String endedBy() {
        return endedBy;
    }

    void act(Action a) {
        actions.add(a);
    }

    void event(JobEvent e) {
        events.add(e);
    }

    /** Requeues after {@code d} at the latest (keeps an earlier requeue already asked for). */
    void requeueWithin(Duration d) {
        if (requeueAfter == null || d.compareTo(requeueAfter) < 0) {
            requeueAfter = d;
        }
    }

    void recoveryLatency(Duration d) {
        recoveryLatency = d;
    }

    void endedBy(String reason) {
        endedBy = reason;
    }
}
