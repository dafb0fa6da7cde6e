package dev.phoenix.operator.metrics;

import dev.phoenix.operator.decide.Decision;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;

/** Phoenix's own metrics, beside JOSDK's reconcile metrics, on the same registry. */
public final class PhoenixMetrics {
    private final MeterRegistry registry;
    private final Timer recoveryLatency;
    private final Counter recoveries;

    public PhoenixMetrics(MeterRegistry registry) {
        this.registry = registry;
        this.recoveryLatency =
                Timer.builder("phoenix.recovery.latency")
                        .description(
                                "From the end of an attempt (preemption or failure observed) to its replacement gang created")
                        .publishPercentiles(0.5, 0.95, 0.99)
                        .register(registry);
        this.recoveries =
                Counter.builder("phoenix.recoveries")
                        .description("Gang restarts")
                        .register(registry);
    }

    public void record(Decision d) {
        if (d.endedBy() != null) {
            Counter.builder("phoenix.attempt.endings")
                    .description("Attempts ended, by reason")
                    .tag("reason", d.endedBy())
                    .register(registry)
                    .increment();
        }
        Duration latency = d.recoveryLatency();
        if (latency != null) {
            recoveries.increment();
            recoveryLatency.record(latency);
        }
    }

    public MeterRegistry registry() {
        return registry;
    }
}
