package dev.phoenix.trainer.report;

import java.util.Map;
import java.util.Optional;

/** The few operations the reporter needs on the report ConfigMap. */
public interface ConfigMapStore {

    /** The ConfigMap's data and resourceVersion, or empty when it does not exist. */
    Optional<Snapshot> get() throws Exception;

    /**
     * Sets one key, only if the ConfigMap still has {@code resourceVersion} (optimistic locking);
     * throws {@link ConflictException} otherwise.
     */
    default void put(String key, String value, String resourceVersion)
            throws ConflictException, Exception {
        put(Map.of(key, value), resourceVersion);
    }

    /** Sets several keys in one write (all or none), with the same optimistic locking. */
    void put(Map<String, String> entries, String resourceVersion)
            throws ConflictException, Exception;

    /** Human-readable name, for logs. */
    String describe();

    record Snapshot(Map<String, String> data, String resourceVersion) {}

    final class ConflictException extends Exception {
        public ConflictException(String message) {
            super(message);
        }
    }
}
