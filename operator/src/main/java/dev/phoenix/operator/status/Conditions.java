package dev.phoenix.operator.status;

import dev.phoenix.api.v1alpha1.Condition;
import dev.phoenix.api.v1alpha1.TrainingJobStatus;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Optional;

/** Sets Kubernetes-style conditions; the transition time moves only when the status flips. */
public final class Conditions {
    public static final String RUNNING = "Running";
    public static final String RESTARTING = "Restarting";
    public static final String SUSPENDED = "Suspended";
    public static final String SUCCEEDED = "Succeeded";
    public static final String FAILED = "Failed";

    /**
     * False when the last checkpoint a trainer was told to resume from turned out missing or
     * corrupt.
     */
    public static final String CHECKPOINT_VALID = "CheckpointValid";

    /**
     * False while the spec breaks a rule the schema cannot express (see SpecValidator); nothing
     * starts.
     */
    public static final String SPEC_VALID = "SpecValid";

    /**
     * False while a report in the report ConfigMap (or a termination message) is rejected; it is
     * not copied.
     */
    public static final String REPORTS_VALID = "ReportsValid";

    private Conditions() {}

    public static void set(
            TrainingJobStatus status,
            String type,
            boolean value,
            String reason,
            String message,
            Instant now,
            Long generation) {
        if (status.getConditions() == null) {
            status.setConditions(new ArrayList<>());
        }
        String s = value ? "True" : "False";
        Optional<Condition> existing = find(status, type);
        if (existing.isPresent()) {
            Condition c = existing.get();
            if (!s.equals(c.getStatus())) {
                c.setLastTransitionTime(now.toString());
            }
            c.setStatus(s);
            c.setReason(reason);
            c.setMessage(message);
            c.setObservedGeneration(generation);
        } else {
            status.getConditions()
                    .add(new Condition(type, s, reason, message, now.toString(), generation));
        }
    }

    /** Marks a condition False only if it exists and is True: absent conditions stay absent. */
    public static void clear(
            TrainingJobStatus status,
            String type,
            String reason,
            String message,
            Instant now,
            Long generation) {
        if (find(status, type).map(Condition::isTrue).orElse(false)) {
            set(status, type, false, reason, message, now, generation);
        }
    }

    public static Optional<Condition> find(TrainingJobStatus status, String type) {
        return status.getConditions() == null
                ? Optional.empty()
                : status.getConditions().stream().filter(c -> type.equals(c.getType())).findFirst();
    }
}
