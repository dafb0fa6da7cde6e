package dev.phoenix.operator.observe;

import static org.assertj.core.api.Assertions.assertThat;

import dev.phoenix.operator.Names;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import org.junit.jupiter.api.Test;

class PodExpectationsTest {
    private Instant now = Instant.parse("2026-12-03T00:00:00Z");
    private final Clock clock =
            new Clock() {
                @Override
                public java.time.ZoneId getZone() {
                    return ZoneOffset.UTC;
                }

                @Override
                public Clock withZone(java.time.ZoneId zone) {
                    return this;
                }

                @Override
                public Instant instant() {
                    return now;
                }
            };

    private static Pod pod(String name, String uid) {
        return new PodBuilder()
                .withNewMetadata()
                .withName(name)
                .withNamespace("ns")
                .withUid(uid)
                .addToLabels(Names.LABEL_JOB, "llm")
                .endMetadata()
                .build();
    }

    private static List<String> names(List<Pod> pods) {
        return pods.stream().map(p -> p.getMetadata().getName()).toList();
    }

    @Test
    void aCreatedPodCountsUntilTheCacheHoldsIt() {
        PodExpectations created = new PodExpectations(clock);
        created.created("ns", "llm", pod("llm-worker-0", "u0"));
        created.created("ns", "llm", pod("llm-worker-1", "u1"));
        // The cache has delivered rank 0 only: rank 1 is still there for the decision.
        assertThat(
                        names(
                                created.withCreated(
                                        "ns", "llm", () -> List.of(pod("llm-worker-0", "u0")))))
                .containsExactlyInAnyOrder("llm-worker-0", "llm-worker-1");
        // Once delivered, the cache alone decides: a pod gone afterwards is gone.
        created.delivered(pod("llm-worker-1", "u1"));
        assertThat(created.withCreated("ns", "llm", () -> List.of())).isEmpty();
        assertThat(created.pendingJobs()).isEmpty();
    }

    @Test
    void aPodDeliveredWhileTheCacheIsReadIsCountedOnce() {
        PodExpectations created = new PodExpectations(clock);
        Pod p = pod("llm-worker-0", "u0");
        created.created("ns", "llm", p);
        // The informer's order: store updated, then delivered(). Right after the cache was read
        // (without the pod), the informer delivers it: the expectation taken before the read
        // still counts it.
        assertThat(
                        names(
                                created.withCreated(
                                        "ns",
                                        "llm",
                                        () -> {
                                            created.delivered(p);
                                            return List.of();
                                        })))
                .containsExactly("llm-worker-0");
        // Delivered before the read: the cache holds it, and it is not counted twice.
        created.created("ns", "llm", pod("llm-worker-1", "u1"));
        assertThat(
                        names(
                                created.withCreated(
                                        "ns",
                                        "llm",
                                        () -> {
                                            created.delivered(pod("llm-worker-1", "u1"));
                                            return List.of(p, pod("llm-worker-1", "u1"));
                                        })))
                .containsExactlyInAnyOrder("llm-worker-0", "llm-worker-1");
        assertThat(created.pendingJobs()).isEmpty();
    }

    @Test
    void anotherJobOrAnotherUidIsNotTheExpectedPod() {
        PodExpectations created = new PodExpectations(clock);
        created.created("ns", "llm", pod("llm-worker-0", "u0"));
        assertThat(created.withCreated("ns", "other", () -> List.of())).isEmpty();
        // A delivery of another UID under the name does not meet it; a cache listing one does
        // (the cache is past the created pod).
        created.delivered(pod("llm-worker-0", "older"));
        assertThat(names(created.withCreated("ns", "llm", () -> List.of())))
                .containsExactly("llm-worker-0");
        assertThat(
                        names(
                                created.withCreated(
                                        "ns", "llm", () -> List.of(pod("llm-worker-0", "newer")))))
                .containsExactly("llm-worker-0");
        assertThat(created.withCreated("ns", "llm", () -> List.of())).isEmpty();
    }

    @Test
    void aDeleteSentMarksThatPodOfThatAttemptOnly() {
        PodExpectations expectations = new PodExpectations(clock);
        expectations.deleteSent("ns", "llm-worker-0", 3);
        Pod old = pod("llm-worker-0", "u0");
        old.getMetadata().getLabels().put(Names.LABEL_ATTEMPT, "3");
        Pod next = pod("llm-worker-0", "u1");
        next.getMetadata().getLabels().put(Names.LABEL_ATTEMPT, "4");
        assertThat(expectations.deleteSent(old)).isTrue();
        // The next attempt's pod of the same name is not being deleted.
        assertThat(expectations.deleteSent(next)).isFalse();
        assertThat(expectations.deleteSent(pod("llm-worker-0", "u2"))).isFalse();
    }

    @Test
    void aPodTheCacheNeverShowsStopsCountingAfterThePatience() {
        PodExpectations created = new PodExpectations(clock);
        created.created("ns", "llm", pod("llm-worker-0", "u0"));
        now = now.plus(PodExpectations.PATIENCE).minusSeconds(1);
        assertThat(created.withCreated("ns", "llm", () -> List.of())).hasSize(1);
        now = now.plusSeconds(2);
        assertThat(created.withCreated("ns", "llm", () -> List.of())).isEmpty();
    }
}
