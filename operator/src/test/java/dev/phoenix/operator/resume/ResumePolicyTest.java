package dev.phoenix.operator.resume;

import static org.assertj.core.api.Assertions.assertThat;

import dev.phoenix.api.v1alpha1.AttemptRecord;
import dev.phoenix.api.v1alpha1.CheckpointRecord;
import dev.phoenix.api.v1alpha1.TrainingJobSpec;
import dev.phoenix.api.v1alpha1.TrainingJobStatus;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** The table of where a gang (re)starts, one row per case, as JobSet's per-policy tests. */
class ResumePolicyTest {

    /**
     * A status: attempt, timeline, applied resumeStep, latest (step, valid), inventory steps ("-"
     * prefix = invalid), last end.
     */
    record Case(
            String name,
            Long specResumeStep,
            int attempt,
            String timeline,
            Long applied,
            Long latest,
            boolean latestValid,
            List<String> inventory,
            String lastEnd,
            Long lastResume,
            ResumePlan expected) {
        @Override
        public String toString() {
            return name;
        }
    }

    static ResumePlan plan(
            long step, boolean pinned, String timeline, boolean branch, ResumePlan.Cause cause) {
        return new ResumePlan(step, pinned, timeline, branch, cause);
    }

    static Stream<Arguments> cases() {
        return Stream.of(
                        new Case(
                                "a new job starts from scratch",
                                null,
                                0,
                                null,
                                null,
                                null,
                                true,
                                List.of(),
                                null,
                                null,
                                plan(0, false, "t1", false, ResumePlan.Cause.LATEST)),
                        new Case(
                                "a new job with spec.resumeStep starts pinned on t1",
                                300L,
                                0,
                                "t1",
                                null,
                                null,
                                true,
                                List.of(),
                                null,
                                null,
                                plan(300, true, "t1", false, ResumePlan.Cause.PINNED)),
                        new Case(
                                "a restart resumes from the latest checkpoint",
                                null,
                                2,
                                "t1",
                                null,
                                40L,
                                true,
                                List.of("40", "30"),
                                "Preemption",
                                20L,
                                plan(40, false, "t1", false, ResumePlan.Cause.LATEST)),
                        new Case(
                                "a newer checkpoint on disk than the reported latest wins (nothing valid moved aside)",
                                null,
                                2,
                                "t1",
                                null,
                                40L,
                                true,
                                List.of("60", "50", "40"),
                                "Preemption",
                                20L,
                                plan(60, false, "t1", false, ResumePlan.Cause.LATEST)),
                        new Case(
                                "an emergency checkpoint reported on SIGTERM, newer than the inventory, wins",
                                null,
                                2,
                                "t1",
                                null,
                                57L,
                                true,
                                List.of("50", "40"),
                                "Preemption",
                                20L,
                                plan(57, false, "t1", false, ResumePlan.Cause.LATEST)),
                        new Case(
                                "a changed spec.resumeStep pins it on a new timeline",
                                30L,
                                3,
                                "t2",
                                100L,
                                80L,
                                true,
                                List.of("80", "60"),
                                "ResumeStepChanged",
                                60L,
                                plan(30, true, "t3", true, ResumePlan.Cause.PINNED)),
                        new Case(
                                "an applied spec.resumeStep is not pinned again",
                                30L,
                                3,
                                "t2",
                                30L,
                                80L,
                                true,
                                List.of("80", "60"),
                                "Preemption",
                                60L,
                                plan(80, false, "t2", false, ResumePlan.Cause.LATEST)),
                        new Case(
                                "resumeStep 0 restarts from scratch, pinned",
                                0L,
                                3,
                                "t1",
                                null,
                                80L,
                                true,
                                List.of("80"),
                                "ResumeStepChanged",
                                60L,
                                plan(0, true, "t2", true, ResumePlan.Cause.PINNED)),
                        new Case(
                                "a refused checkpoint falls back to the newest older one on disk",
                                null,
                                2,
                                "t1",
                                null,
                                60L,
                                false,
                                List.of("-60", "40", "20"),
                                "InvalidCheckpoint",
                                60L,
                                plan(40, false, "t2", true, ResumePlan.Cause.FALLBACK)),
                        new Case(
                                "the fallback never uses a step the inventory does not list (retention deleted it)",
                                null,
                                2,
                                "t1",
                                null,
                                350L,
                                false,
                                List.of("-350"),
                                "InvalidCheckpoint",
                                350L,
                                plan(0, false, "t2", true, ResumePlan.Cause.FALLBACK)),
                        new Case(
                                "the fallback skips other invalid steps",
                                null,
                                4,
                                "t3",
                                null,
                                40L,
                                false,
                                List.of("-60", "-40", "20"),
                                "InvalidCheckpoint",
                                40L,
                                plan(20, false, "t4", true, ResumePlan.Cause.FALLBACK)),
                        new Case(
                                "after a fallback attempt is preempted, the invalid latest is not used",
                                null,
                                3,
                                "t2",
                                null,
                                60L,
                                false,
                                List.of("-60", "40"),
                                "Preemption",
                                40L,
                                plan(40, false, "t2", false, ResumePlan.Cause.LATEST)))
                .map(Arguments::of);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void decides(Case c) {
        TrainingJobSpec spec = new TrainingJobSpec();
        spec.setResumeStep(c.specResumeStep());
        TrainingJobStatus s = new TrainingJobStatus();
        s.setAttempt(c.attempt());
        s.setTimeline(c.timeline());
        s.setAppliedResumeStep(c.applied());
        if (c.latest() != null) {
            CheckpointRecord r =
                    new CheckpointRecord(c.latest(), "sha256:x", null, 1, c.timeline(), null);
            r.setValid(c.latestValid() ? true : false);
            s.setLatestCheckpoint(r);
        }
        List<CheckpointRecord> inv = new ArrayList<>();
        for (String e : c.inventory()) {
            boolean invalid = e.startsWith("-");
            CheckpointRecord r =
                    new CheckpointRecord(
                            Long.parseLong(invalid ? e.substring(1) : e),
                            "sha256:x",
                            null,
                            1,
                            c.timeline(),
                            null);
            if (invalid) {
                r.setValid(false);
            }
            inv.add(r);
        }
        s.setCheckpoints(inv);
        if (c.lastEnd() != null) {
            AttemptRecord a = new AttemptRecord();
            a.setNumber(c.attempt());
            a.setResumeStep(c.lastResume());
            a.setEndReason(c.lastEnd());
            s.setCurrentAttempt(a);
        }
        assertThat(ResumePolicy.next(spec, s)).isEqualTo(c.expected());
    }
}
