package dev.phoenix.operator.decide;

import static dev.phoenix.operator.decide.Jobs.create;
import static org.assertj.core.api.Assertions.assertThat;

import dev.phoenix.api.v1alpha1.CheckpointRecord;
import dev.phoenix.api.v1alpha1.Phase;
import dev.phoenix.operator.observe.JobObserver;
import dev.phoenix.operator.observe.PodOutcome;
import dev.phoenix.operator.observe.Report;
import dev.phoenix.operator.status.Conditions;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.fabric8.kubernetes.api.model.ContainerStatusBuilder;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.time.Clock;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Issue 12, items 1–7 at the decision level: what is on disk is the truth, reports are validated
 * and bounded, spec problems are visible. Each test failed on the code before (see the issue note).
 */
class CheckpointTruthTest {
    private static final KubernetesSerialization JSON = new KubernetesSerialization();

    @Test
    void theFallbackChoosesOnlyFromTheInventoryNeverFromStepsRetentionDeleted() {
        // Item 1: history kept 20, 40, 60 although retention (keep 2) had deleted 20.
        Jobs j = new Jobs(1);
        j.decide();
        j.checkpoint(20, "t1").running();
        j.checkpoint(40, "t1").running();
        j.checkpoint(60, "t1").inventory(60, 40).running();
        assertThat(j.job.getStatus().getCheckpoints())
                .extracting(CheckpointRecord::getStep)
                .containsExactly(60L, 40L);
        j.set(0, PodOutcome.preempted("EvictionByEvictionAPI", "")).decide();
        assertThat(create(j.gone()).resumeStep()).isEqualTo(60);
        j.running();
        j.set(0, PodOutcome.checkpointInvalid(60L, "step-0000000060: no such checkpoint directory"))
                .decide();
        Action.CreateWorkers c = create(j.gone());
        assertThat(c.resumeStep()).isEqualTo(40);
        j.running();
        j.set(0, PodOutcome.checkpointInvalid(40L, "step-0000000040: SHA-256 mismatch")).decide();
        // 20 is not on disk: straight to scratch, not one attempt per stale entry.
        assertThat(create(j.gone()).resumeStep()).isZero();
    }

    @Test
    void anAttemptThatResumedFromANewerCheckpointOnDiskSaysSoInStatus() {
        // The reports of 60 and 80 never arrived (held back, the trainer SIGKILLed right after the
        // commit): Phoenix restarts from 40, the newest it knows of, and rank 0 resumes from 80
        // (PHOENIX_RESUME_EXACT=false) instead of moving 60 and 80 aside.
        Jobs j = new Jobs(1);
        j.decide();
        j.checkpoint(40, "t1").inventory(40, 20).running();
        j.set(0, PodOutcome.preempted("EvictionByEvictionAPI", "")).decide();
        Action.CreateWorkers c = create(j.gone());
        assertThat(c.resumeStep()).isEqualTo(40);
        assertThat(c.exactStep()).isFalse();
        Decision d = j.resumedFrom(80).inventory(80, 60, 40, 20).running();
        assertThat(d.status().getResumedFromStep()).isEqualTo(80);
        assertThat(d.status().getCurrentAttempt().getResumeStep()).isEqualTo(80);
        assertThat(d.status().getLatestCheckpoint().getStep()).isEqualTo(80);
        assertThat(d.events())
                .filteredOn(e -> e.reason().equals("ResumedFromNewer"))
                .singleElement()
                .satisfies(e -> assertThat(e.message()).contains("step 80").contains("step 40"));
        assertThat(j.running().events())
                .extracting(JobEvent::reason)
                .doesNotContain("ResumedFromNewer");
        // The next restart starts from there, not from 40.
        j.set(0, PodOutcome.preempted("EvictionByEvictionAPI", "")).decide();
        assertThat(create(j.gone()).resumeStep()).isEqualTo(80);
    }

    @Test
    void aResumedFromStepTheInventoryDoesNotListChangesNothing() {
        Jobs j = new Jobs(1);
        j.decide();
        j.checkpoint(40, "t1").inventory(40, 20).running();
        j.set(0, PodOutcome.preempted("EvictionByEvictionAPI", "")).decide();
        create(j.gone());
        Decision d = j.resumedFrom(60).inventory(40, 20).running();
        assertThat(d.status().getResumedFromStep()).isEqualTo(40);
        assertThat(d.events()).extracting(JobEvent::reason).doesNotContain("ResumedFromNewer");
    }

    @Test
    void aReportForAStepTheInventoryDoesNotListIsRejectedAndNeverBecomesTheResumeStep() {
        // Item 2: a report of step 900 (nothing on disk) was taken as latest.
        Jobs j = new Jobs(1);
        j.decide();
        j.checkpoint(40, "t1").inventory(40, 20).running();
        j.checkpoint(900, "t1");
        Decision d = j.running();
        assertThat(d.status().getLatestCheckpoint().getStep()).isEqualTo(40);
        var condition = Conditions.find(d.status(), Conditions.REPORTS_VALID).orElseThrow();
        assertThat(condition.isTrue()).isFalse();
        assertThat(condition.getMessage()).contains("step 900").contains("not in the inventory");
        assertThat(d.events()).extracting(JobEvent::reason).containsOnlyOnce("ReportRejected");
        assertThat(j.running().events())
                .extracting(JobEvent::reason)
                .doesNotContain("ReportRejected");
        j.set(0, PodOutcome.preempted("EvictionByEvictionAPI", "")).decide();
        assertThat(create(j.gone()).resumeStep()).isEqualTo(40);
    }

    @Test
    void reportsWithForeignDigestsTimelinesAttemptsOrStepsAreRejected() {
        Jobs j = new Jobs(1);
        j.job.getSpec()
                .getTemplate()
                .getSpec()
                .getContainers()
                .get(0)
                .setArgs(List.of("--steps", "100"));
        j.decide();
        j.running();
        for (Report bad :
                List.of(
                        new Report(50, "md5:abc", null, 1, "t1", null),
                        new Report(500, Jobs.digest('d', 500), null, 1, "t1", null),
                        new Report(50, Jobs.digest('d', 50), null, 7, "t1", null),
                        new Report(-5, Jobs.digest('d', 5), null, 1, "t1", null))) {
            j.report = bad;
            Decision d = j.running();
            assertThat(d.status().getLatestCheckpoint()).as(bad.toString()).isNull();
            assertThat(Conditions.find(d.status(), Conditions.REPORTS_VALID).orElseThrow().isTrue())
                    .isFalse();
        }
        j.inventory = new Report.Inventory("t1", 1, "uid-of-another-job", List.of(), null);
        assertThat(
                        Conditions.find(j.running().status(), Conditions.REPORTS_VALID)
                                .orElseThrow()
                                .getMessage())
                .contains("uid-of-another-job");
    }

    @Test
    void aRejectedReportOfAFutureAttemptIsRemovedOnTheSecondLookSoItCannotSilenceTheTrainer() {
        // Found by ChaosIT's report tampering: the trainer leaves a newer attempt's report alone,
        // so a forged "attempt 7" kept it from ever reporting again.
        Jobs j = new Jobs(1);
        j.decide();
        j.checkpoint(40, "t1").inventory(40, 20).running();
        j.report = new Report(60, Jobs.digest('d', 60), null, 7, "t1", null);
        j.reportVersion = "11";
        Decision first = j.running();
        assertThat(first.actions()).noneMatch(a -> a instanceof Action.ClearReportKeys);
        assertThat(first.requeueAfter())
                .as("look again: a silenced trainer writes nothing")
                .isNotNull();
        Decision second = j.running();
        assertThat(second.actions())
                .containsExactly(new Action.ClearReportKeys(List.of("checkpoint"), "11"));
        assertThat(second.events()).extracting(JobEvent::reason).containsExactly("ReportCleared");
        assertThat(second.status().getLatestCheckpoint().getStep()).isEqualTo(40);

        // A report rejected once only (judged against a status that may be stale) is never removed.
        Jobs k = new Jobs(1);
        k.decide();
        k.running();
        k.report = new Report(20, Jobs.digest('d', 20), null, 2, "t1", null);
        assertThat(k.running().actions()).noneMatch(a -> a instanceof Action.ClearReportKeys);
    }

    @Test
    void aHugeReportValueIsRejectedAndNoReportCanMakeStatusLarge() {
        // Item 3: a ~900 KiB value was copied into status; every status write then failed.
        Jobs j = new Jobs(2);
        j.decide();
        Random random = new Random(12);
        String huge = "x".repeat(900 * 1024);
        JobObserver observer =
                new JobObserver(
                        job -> List.of(),
                        job ->
                                Optional.of(
                                        configMap(
                                                Map.of(
                                                        "checkpoint",
                                                        "{\"step\":10,\"digest\":\""
                                                                + huge
                                                                + "\",\"timeline\":\"t1\"}",
                                                        "progress",
                                                        huge,
                                                        "inventory",
                                                        huge))),
                        n -> true,
                        Clock.fixed(Jobs.T0, ZoneOffset.UTC));
        var obs = observer.observe(j.job, Optional.empty());
        assertThat(obs.checkpointReport()).isNull();
        assertThat(obs.reportProblems()).hasSize(3);
        // Every other way a string reaches status: reports within the size bound, pod messages,
        // names.
        for (int round = 0; round < 50; round++) {
            String s = randomString(random, 4000);
            j.report = new Report(random.nextInt(1000), s, s, 1, "t1", s);
            j.progress = new Report.Progress(random.nextInt(1000), 1, s);
            j.reportProblems = List.of(s, s, s, s, obs.reportProblems().get(0));
            j.workers.clear();
            j.workers.add(Jobs.worker(0, 1, PodOutcome.cannotStart(s, s)));
            j.workers.add(
                    new dev.phoenix.operator.observe.WorkerView(
                            "llm-worker-1",
                            1,
                            1,
                            false,
                            false,
                            PodOutcome.failed(1, s, s),
                            new Report(3, s, s, 1, "t1", s)));
            Decision d = j.decide();
            assertThat(JSON.asJson(d.status()).length()).as("status size").isLessThan(32 * 1024);
            if (d.status().getPhase() != Phase.Pending && d.status().getPhase() != Phase.Running) {
                j.workers.clear();
                j.decide();
            }
        }
    }

    @Test
    void aPinnedStepBeyondTheTotalStepsIsASpecProblemAndTheTrainersRefusalNeverAFailure() {
        // Item 4: resumeStep 999999 > --steps made the trainer exit 2, counted as failures.
        Jobs j = new Jobs(1);
        j.job.getSpec()
                .getTemplate()
                .getSpec()
                .getContainers()
                .get(0)
                .setArgs(List.of("--steps", "300"));
        j.job.getSpec().setResumeStep(999_999L);
        Decision d = j.decide();
        assertThat(d.actions()).noneMatch(a -> a instanceof Action.CreateWorkers);
        assertThat(Conditions.find(d.status(), Conditions.SPEC_VALID).orElseThrow().getMessage())
                .contains("spec.resumeStep")
                .contains("999999")
                .contains("300");
        // Where the total is not in the template, the trainer refuses it (exit 65): an invalid
        // pinned step.
        Jobs k = new Jobs(1);
        k.job.getSpec().setResumeStep(999_999L);
        k.decide();
        assertThat(k.job.getStatus().getLatestCheckpoint().usable()).isTrue();
        assertThat(k.job.getStatus().getLatestCheckpoint().getValid())
                .as("not claimed valid")
                .isNull();
        k.running();
        Decision refused =
                k.set(
                                0,
                                PodOutcome.checkpointInvalid(
                                        999_999L,
                                        "resume step 999999 is beyond the job's "
                                                + "total steps (--steps 300)"))
                        .decide();
        assertThat(refused.status().getPhase()).isEqualTo(Phase.Failed);
        assertThat(refused.status().getFailures()).isZero();
        assertThat(Conditions.find(refused.status(), Conditions.FAILED).orElseThrow().getReason())
                .isEqualTo("PinnedCheckpointInvalid");
    }

    @Test
    void aSecondLiveJobOnTheSameCheckpointLocationIsRefusedNamingTheOther() {
        // Item 5: two jobs on one path moved each other's checkpoints aside.
        Jobs first = new Jobs(1);
        first.decide();
        Jobs second = new Jobs(1);
        second.job.getMetadata().setName("other");
        second.peers = List.of(first.job, second.job);
        Decision d = second.decide();
        assertThat(d.actions()).noneMatch(a -> a instanceof Action.CreateWorkers);
        var spec = Conditions.find(d.status(), Conditions.SPEC_VALID).orElseThrow();
        assertThat(spec.isTrue()).isFalse();
        assertThat(spec.getMessage()).contains("ml/llm").contains("pvc:ml/ckpt");
        // A subPath of its own is another location.
        second.job
                .getSpec()
                .getTemplate()
                .getSpec()
                .getContainers()
                .get(0)
                .getVolumeMounts()
                .get(0)
                .setSubPath("other");
        assertThat(second.decide().actions()).anyMatch(a -> a instanceof Action.CreateWorkers);
    }

    @Test
    void ownedObjectsThatDisappearAreRecreatedWithoutTouchingTheGang() {
        // Item 6: a deleted RoleBinding was only recreated at the next restart.
        Jobs j = new Jobs(2);
        j.decide();
        j.running();
        j.missingResources = List.of("RoleBinding llm-trainer", "ConfigMap llm-report");
        Decision d = j.running();
        assertThat(d.actions()).containsExactly(new Action.EnsureResources(j.missingResources));
        assertThat(d.status().getPhase()).isEqualTo(Phase.Running);
        assertThat(d.events()).extracting(JobEvent::reason).contains("ResourceRecreated");
    }

    @Test
    void aTemplateChangeOfARunningJobRestartsTheGangVisibly() {
        // Item 7: a new image waited silently for the next restart.
        Jobs j = new Jobs(2);
        j.decide();
        j.checkpoint(40, "t1").inventory(40).running();
        j.job.getSpec()
                .getTemplate()
                .getSpec()
                .getContainers()
                .get(0)
                .setImage("phoenix/trainer:0.2.0");
        Decision d = j.running();
        assertThat(d.status().getPhase()).isEqualTo(Phase.Restarting);
        assertThat(d.events()).extracting(JobEvent::reason).contains("SpecChanged");
        assertThat(d.status().getFailures()).isZero();
        assertThat(d.status().getPreemptions()).isZero();
        assertThat(create(j.gone()).resumeStep()).isEqualTo(40);
    }

    @Test
    void podsThatCannotStartSurfaceWithTheirOwnReasonAndTheJobIsNotRunning() {
        // Item 7: CreateContainerConfigError left the job Running/AllWorkersRunning.
        Pod pod =
                new PodBuilder()
                        .withMetadata(new ObjectMetaBuilder().withName("llm-worker-0").build())
                        .withNewStatus()
                        .withPhase("Pending")
                        .withContainerStatuses(
                                new ContainerStatusBuilder()
                                        .withName("trainer")
                                        .withNewState()
                                        .withNewWaiting()
                                        .withReason("CreateContainerConfigError")
                                        .withMessage("secret \"hf-token\" not found")
                                        .endWaiting()
                                        .endState()
                                        .build())
                        .endStatus()
                        .build();
        PodOutcome outcome = dev.phoenix.operator.observe.PodClassifier.classify(pod, true);
        Jobs j = new Jobs(2);
        j.decide();
        j.pods(1, PodOutcome.Kind.RUNNING).set(1, outcome);
        Decision d = j.decide();
        assertThat(d.status().getPhase()).isEqualTo(Phase.Pending);
        var running = Conditions.find(d.status(), Conditions.RUNNING).orElseThrow();
        assertThat(running.isTrue()).isFalse();
        assertThat(running.getReason()).isEqualTo("CreateContainerConfigError");
        assertThat(running.getMessage())
                .contains("llm-worker-1")
                .contains("secret \"hf-token\" not found");
        assertThat(d.events()).extracting(JobEvent::reason).containsOnlyOnce("WorkerNotStarting");
        assertThat(j.decide().events())
                .extracting(JobEvent::reason)
                .doesNotContain("WorkerNotStarting");
        j.pods(1, PodOutcome.Kind.RUNNING);
        assertThat(j.decide().status().getPhase()).isEqualTo(Phase.Running);
    }

    @Test
    void aTrainerRefusingAnotherJobsDirectoryFailsTheJobWithoutFallingBack() {
        Jobs j = new Jobs(1);
        j.decide();
        j.running();
        Decision d =
                j.set(
                                0,
                                PodOutcome.checkpointInvalid(
                                        PodOutcome.DIRECTORY_IN_USE,
                                        0L,
                                        "checkpoint directory /ckpt holds another job's checkpoints: step-0000000010 belongs to job ml/old"))
                        .decide();
        assertThat(d.status().getPhase()).isEqualTo(Phase.Failed);
        assertThat(Conditions.find(d.status(), Conditions.FAILED).orElseThrow().getMessage())
                .contains("ml/old");
    }

    @Test
    void thePodFactoryAloneWritesTheWireValueOfAFreshStart() {
        Jobs j = new Jobs(1);
        Action.CreateWorkers c = create(j.decide());
        assertThat(c.resumeStep()).isZero();
        Pod pod =
                dev.phoenix.operator.act.WorkerPodFactory.build(
                        j.job, 0, c.attempt(), c.resumeStep(), c.exactStep(), c.timeline());
        List<EnvVar> env = pod.getSpec().getContainers().get(0).getEnv();
        assertThat(env)
                .filteredOn(e -> e.getName().equals("PHOENIX_RESUME_STEP"))
                .extracting(EnvVar::getValue)
                .containsExactly("-1");
        assertThat(env)
                .filteredOn(e -> e.getName().equals("PHOENIX_JOB_UID"))
                .extracting(EnvVar::getValue)
                .containsExactly("uid-1");
    }

    private static ConfigMap configMap(Map<String, String> data) {
        return new ConfigMapBuilder()
                .withNewMetadata()
                .withName("llm-report")
                .endMetadata()
                .withData(data)
                .build();
    }

    private static String randomString(Random r, int max) {
        StringBuilder b = new StringBuilder();
        int n = r.nextInt(max);
        for (int i = 0; i < n; i++) {
            b.append((char) (' ' + r.nextInt(90)));
        }
        return b.toString();
    }
}
