package dev.phoenix.operator.decide;

import static dev.phoenix.operator.decide.Jobs.create;
import static org.assertj.core.api.Assertions.assertThat;

import dev.phoenix.api.v1alpha1.Phase;
import dev.phoenix.operator.observe.PodOutcome;
import dev.phoenix.operator.observe.PodOutcome.Kind;
import dev.phoenix.operator.status.Conditions;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class DeciderTest {

    @Test
    void newJobStartsAttemptOneFromScratchOnTimelineOne() {
        Jobs j = new Jobs(2);
        Decision d = j.decide();
        assertThat(d.status().getPhase()).isEqualTo(Phase.Pending);
        assertThat(d.status().getAttempt()).isEqualTo(1);
        assertThat(d.status().getTimeline()).isEqualTo("t1");
        Action.CreateWorkers c = create(d);
        assertThat(c.ranks()).containsExactly(0, 1);
        assertThat(c.resumeStep()).isEqualTo(0); // from scratch: the pod factory writes -1
        assertThat(c.wholeGang()).isTrue();
        assertThat(c.createResources()).isTrue();
        assertThat(d.events()).extracting(JobEvent::reason).containsExactly("Started");
    }

    @Test
    void allWorkersRunningMakesTheJobRunning() {
        Jobs j = new Jobs(2);
        j.decide();
        Decision d = j.running();
        assertThat(d.status().getPhase()).isEqualTo(Phase.Running);
        assertThat(Conditions.find(d.status(), Conditions.RUNNING).orElseThrow().isTrue()).isTrue();
        assertThat(d.actions()).isEmpty();
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "PreemptionByScheduler",
                "EvictionByEvictionAPI",
                "DeletionByTaintManager",
                "DeletionByPodGC",
                "TerminationByKubelet",
                "DeletedExternally",
                "NodeLost"
            })
    void preemptionRestartsTheGangFromTheLatestCheckpointWithoutCountingAFailure(String reason) {
        Jobs j = new Jobs(2);
        j.decide();
        j.running();
        j.checkpoint(40, "t1").running();
        Decision d = j.set(1, PodOutcome.preempted(reason, "test")).decide();
        assertThat(d.status().getPhase()).isEqualTo(Phase.Restarting);
        assertThat(d.status().getPreemptions()).isEqualTo(1);
        assertThat(d.status().getFailures()).isZero();
        assertThat(d.status().getCurrentAttempt().getEndReason()).isEqualTo("Preemption");
        assertThat(d.actions()).singleElement().isInstanceOf(Action.DeleteWorkers.class);
        assertThat(((Action.DeleteWorkers) d.actions().get(0)).targets()).hasSize(2);
        // The disrupted gang goes at once, beside the status write (every pod is of this attempt).
        assertThat(((Action.DeleteWorkers) d.actions().get(0)).withStatus()).isTrue();
        assertThat(d.events()).extracting(JobEvent::reason).containsExactly("Preempted");

        // While the old pods terminate, nothing starts.
        Decision waiting = j.decide();
        assertThat(waiting.actions()).noneMatch(a -> a instanceof Action.CreateWorkers);

        Decision restart = j.later(5).gone();
        Action.CreateWorkers c = create(restart);
        // The newest step Phoenix knows of: the trainer may resume from a newer one on disk.
        assertThat(c.exactStep()).isFalse();
        assertThat(c.attempt()).isEqualTo(2);
        assertThat(c.resumeStep()).isEqualTo(40);
        assertThat(c.timeline()).isEqualTo("t1");
        assertThat(c.ranks()).containsExactly(0, 1);
        assertThat(restart.status().getRestarts()).isEqualTo(1);
        assertThat(restart.status().getResumedFromStep()).isEqualTo(40);
        assertThat(restart.recoveryLatency()).hasSeconds(5);
    }

    @Test
    void emergencyCheckpointReportedDuringTerminationIsTheResumePoint() {
        Jobs j = new Jobs(1);
        j.decide();
        j.checkpoint(40, "t1").running();
        j.set(0, PodOutcome.preempted("EvictionByEvictionAPI", "")).decide();
        j.checkpoint(57, "t1"); // written by the trainer on SIGTERM
        assertThat(create(j.gone()).resumeStep()).isEqualTo(57);
    }

    @Test
    void aRecoveryCreatesNoOwnedObjectsThatExistOnlyThoseThatAreMissing() {
        // Issue 13: every recovery sent 5 creates that answered 409.
        Jobs j = new Jobs(1);
        j.decide();
        j.running();
        j.set(0, PodOutcome.preempted("EvictionByEvictionAPI", "")).decide();
        Action.CreateWorkers second = create(j.gone());
        assertThat(second.attempt()).isEqualTo(2);
        assertThat(second.wholeGang()).isTrue();
        assertThat(second.createResources()).isFalse();
        j.running();
        j.set(0, PodOutcome.preempted("EvictionByEvictionAPI", "")).decide();
        j.missingResources = List.of("ConfigMap/llm-report");
        assertThat(create(j.gone()).createResources()).isTrue();
    }

    @Test
    void reportsOfAnotherTimelineAreIgnored() {
        Jobs j = new Jobs(1);
        j.decide();
        j.checkpoint(40, "t1").running();
        j.checkpoint(80, "t0").running();
        assertThat(j.job.getStatus().getLatestCheckpoint().getStep()).isEqualTo(40);
    }

    @Test
    void checkpointsNeverMoveBackwards() {
        Jobs j = new Jobs(1);
        j.decide();
        j.checkpoint(40, "t1").running();
        j.checkpoint(20, "t1").running();
        assertThat(j.job.getStatus().getLatestCheckpoint().getStep()).isEqualTo(40);
    }

    @Test
    void onlyAPreemptionOfTheCurrentAttemptDeletesBesideTheStatusWrite() {
        // A pod of another attempt in the cache means the cache and the status may disagree: the
        // write must succeed (no 409) before anything is deleted.
        Jobs j = new Jobs(2);
        j.decide();
        j.running();
        j.set(1, PodOutcome.preempted("EvictionByEvictionAPI", "test"));
        j.workers.add(
                Jobs.worker(
                        2,
                        j.job.getStatus().getAttempt() + 1,
                        PodOutcome.of(PodOutcome.Kind.RUNNING)));
        Decision d = j.decide();
        assertThat(d.status().getPreemptions()).isEqualTo(1);
        Action.DeleteWorkers del = (Action.DeleteWorkers) d.actions().get(0);
        assertThat(del.targets()).hasSize(3);
        assertThat(del.withStatus()).isFalse();

        // A failure is decided after the write, as every other action.
        Jobs f = new Jobs(2);
        f.decide();
        f.running();
        Decision failed = f.set(0, PodOutcome.failed(1, "Error", "exit 1")).decide();
        assertThat(failed.status().getFailures()).isEqualTo(1);
        assertThat(failed.actions())
                .filteredOn(a -> a instanceof Action.DeleteWorkers)
                .singleElement()
                .satisfies(a -> assertThat(((Action.DeleteWorkers) a).withStatus()).isFalse());
    }

    @Test
    void failuresCountAgainstBackoffLimitThenTheJobFails() {
        Jobs j = new Jobs(2);
        j.job.getSpec().setBackoffLimit(1);
        j.decide();
        j.running();
        Decision first =
                j.set(0, PodOutcome.failed(1, "Error", "container trainer exited with code 1"))
                        .decide();
        assertThat(first.status().getPhase()).isEqualTo(Phase.Restarting);
        assertThat(first.status().getFailures()).isEqualTo(1);
        assertThat(first.status().getPreemptions()).isZero();
        j.gone();
        j.running();
        Decision second = j.set(1, PodOutcome.failed(137, "OOMKilled", "oom")).decide();
        assertThat(second.status().getPhase()).isEqualTo(Phase.Failed);
        assertThat(Conditions.find(second.status(), Conditions.FAILED).orElseThrow().getReason())
                .isEqualTo("BackoffLimitExceeded");
        assertThat(second.status().getCompletionTime()).isNotNull();
        // A failed job stops its other workers and starts nothing.
        assertThat(second.actions()).noneMatch(a -> a instanceof Action.CreateWorkers);
    }

    @Test
    void preemptionWinsOverTheFailuresItCauses() {
        Jobs j = new Jobs(3);
        j.job.getSpec().setBackoffLimit(0);
        j.decide();
        j.running();
        Decision d =
                j.set(0, PodOutcome.failed(1, "Error", "connection reset by peer"))
                        .set(2, PodOutcome.preempted("PreemptionByScheduler", ""))
                        .decide();
        assertThat(d.status().getPhase()).isEqualTo(Phase.Restarting);
        assertThat(d.status().getFailures()).isZero();
        assertThat(d.status().getPreemptions()).isEqualTo(1);
    }

    @Test
    void aRankThatLostItsPeerCountsNothingUntilThePeersFateIsKnownThenAPreemption() {
        // A node dies: rank 1 elsewhere exits PeerLost at once; the taint manager's word on rank 0
        // comes 20 s later.
        Jobs j = new Jobs(2);
        j.job.getSpec().setBackoffLimit(0);
        j.decide();
        j.running();
        Decision lost =
                j.set(
                                1,
                                PodOutcome.failed(
                                        1, PodOutcome.PEER_LOST, "lost the connection to rank 0"))
                        .decide();
        assertThat(lost.status().getPhase()).isEqualTo(Phase.Restarting);
        assertThat(lost.status().getFailures()).as("failures while the cause is open").isZero();
        assertThat(lost.status().getPreemptions()).isZero();
        assertThat(lost.events()).anyMatch(e -> e.reason().equals("PeerLost"));
        // rank 0's pod cannot go (its kubelet is dead) until the platform acts on it
        Decision still =
                j.set(0, PodOutcome.preempted("DeletedExternally", "deleted by Phoenix")).decide();
        assertThat(still.status().getFailures()).isZero();
        assertThat(still.status().getPreemptions()).isZero();
        Decision settled =
                j.set(
                                0,
                                PodOutcome.preempted(
                                        "DeletionByTaintManager",
                                        "Taint manager: deleting due to " + "NoExecute taint"))
                        .decide();
        assertThat(settled.status().getPreemptions()).isEqualTo(1);
        assertThat(settled.status().getFailures()).isZero();
        assertThat(settled.status().getPhase())
                .as("backoffLimit 0 is not touched")
                .isEqualTo(Phase.Restarting);
        Decision next = j.gone();
        assertThat(next.status().getAttempt()).isEqualTo(2);
        assertThat(next.status().getCurrentAttempt().getResumeStep()).isNotNull();
        assertThat(next.status().getPreemptions()).as("counted once").isEqualTo(1);
    }

    @Test
    void aRankThatLostItsPeerIsAFailureWhenTheGangIsGoneAndNoWorkerWasPreempted() {
        Jobs j = new Jobs(2);
        j.decide();
        j.running();
        Decision lost =
                j.set(
                                0,
                                PodOutcome.failed(
                                        1, PodOutcome.PEER_LOST, "lost the connection to a peer"))
                        .decide();
        assertThat(lost.status().getFailures()).isZero();
        Decision next = j.gone();
        assertThat(next.status().getFailures()).isEqualTo(1);
        assertThat(next.status().getPreemptions()).isZero();
        assertThat(next.status().getAttempt()).isEqualTo(2);
        assertThat(next.events())
                .anyMatch(e -> e.reason().equals("Failed") && e.message().contains("llm-worker-0"));
    }

    @Test
    void aProgramFailureWinsOverThePeerLostItCauses() {
        Jobs j = new Jobs(2);
        j.decide();
        j.running();
        Decision d =
                j.set(
                                0,
                                PodOutcome.failed(
                                        1, PodOutcome.PEER_LOST, "lost the connection to a peer"))
                        .set(1, PodOutcome.failed(1, "Error", "NullPointerException"))
                        .decide();
        assertThat(d.status().getFailures()).isEqualTo(1);
        assertThat(d.events())
                .anyMatch(e -> e.reason().equals("Failed") && e.message().contains("llm-worker-1"));
    }

    @Test
    void preemptionsAreBoundedByMaxPreemptions() {
        Jobs j = new Jobs(1);
        j.job.getSpec().setMaxPreemptions(2);
        j.decide();
        for (int i = 0; i < 2; i++) {
            j.running();
            assertThat(
                            j.set(0, PodOutcome.preempted("DeletedExternally", ""))
                                    .decide()
                                    .status()
                                    .getPhase())
                    .isEqualTo(Phase.Restarting);
            j.gone();
        }
        j.running();
        Decision d = j.set(0, PodOutcome.preempted("DeletedExternally", "")).decide();
        assertThat(d.status().getPhase()).isEqualTo(Phase.Failed);
        assertThat(Conditions.find(d.status(), Conditions.FAILED).orElseThrow().getReason())
                .isEqualTo("PreemptionLimitExceeded");
    }

    @Test
    void aPodVanishingWhileRunningIsAPreemption() {
        Jobs j = new Jobs(2);
        j.decide();
        j.running();
        j.workers.remove(1);
        Decision d = j.decide();
        assertThat(d.status().getPreemptions()).isEqualTo(1);
        assertThat(d.status().getCurrentAttempt().getEndMessage()).contains("PodVanished");
    }

    @Test
    void aWholeGangVanishedAsksForTheNextLookItselfAndThenStartsTheNextAttempt() {
        // The operator was down while the only pod was preempted and removed: no pod event will
        // follow.
        Jobs j = new Jobs(1);
        j.decide();
        j.running();
        j.workers.clear();
        Decision d = j.decide();
        assertThat(d.status().getPhase()).isEqualTo(Phase.Restarting);
        assertThat(d.status().getPreemptions()).isEqualTo(1);
        assertThat(d.requeueAfter()).as("reconcile again without waiting for an event").isNotNull();
        Decision next = j.decide();
        assertThat(next.status().getAttempt()).isEqualTo(2);
        assertThat(create(next).ranks()).containsExactly(0);
    }

    @Test
    void aPodMissingWhileStartingIsCreatedNotCountedAsPreemption() {
        Jobs j = new Jobs(2);
        j.decide();
        j.pods(1, Kind.PENDING).workers.remove(1);
        Decision d = j.decide();
        assertThat(d.status().getPreemptions()).isZero();
        Action.CreateWorkers c = create(d);
        assertThat(c.ranks()).containsExactly(1);
        assertThat(c.attempt()).isEqualTo(1);
        assertThat(c.wholeGang()).isFalse();
        assertThat(c.createResources()).isFalse();
    }

    @Test
    void rankZeroSuccessIsDecisive() {
        Jobs j = new Jobs(2);
        j.decide();
        j.running();
        Decision d = j.set(0, PodOutcome.of(Kind.SUCCEEDED)).decide();
        assertThat(d.status().getPhase()).isEqualTo(Phase.Succeeded);
        // rank 1 still runs: it is stopped; rank 0's pod is kept for its logs.
        Action.DeleteWorkers del = (Action.DeleteWorkers) d.actions().get(0);
        assertThat(del.targets())
                .extracting(Action.DeleteWorkers.Target::name)
                .containsExactly("llm-worker-1");
    }

    @Test
    void otherRanksSucceedingFirstIsNotCompletion() {
        Jobs j = new Jobs(2);
        j.decide();
        j.running();
        Decision d = j.set(1, PodOutcome.of(Kind.SUCCEEDED)).decide();
        assertThat(d.status().getPhase()).isEqualTo(Phase.Running);
    }

    @Test
    void pinnedResumeStepRestartsAllRanksFromItOnANewTimeline() {
        Jobs j = new Jobs(2);
        j.decide();
        j.checkpoint(40, "t1").running();
        j.checkpoint(80, "t1").running();
        j.job.getSpec().setResumeStep(40L);
        j.job.getMetadata().setGeneration(2L);
        Decision change = j.decide();
        assertThat(change.status().getPhase()).isEqualTo(Phase.Restarting);
        assertThat(change.status().getPreemptions()).isZero();
        assertThat(change.status().getFailures()).isZero();
        assertThat(change.status().getObservedGeneration()).isEqualTo(2L);
        Action.CreateWorkers c = create(j.gone());
        assertThat(c.resumeStep()).isEqualTo(40);
        assertThat(c.timeline()).isEqualTo("t2");
        assertThat(c.ranks()).containsExactly(0, 1);
        assertThat(c.exactStep()).as("a pinned step is loaded exactly").isTrue();

        // A late report of the abandoned timeline is ignored; the new timeline's next one is taken.
        j.checkpoint(100, "t1").running();
        assertThat(j.job.getStatus().getLatestCheckpoint().getStep()).isEqualTo(40);
        j.checkpoint(60, "t2").running();
        assertThat(j.job.getStatus().getLatestCheckpoint().getStep()).isEqualTo(60);

        // Preempted later: the latest valid checkpoint of the new timeline, not the old 80.
        j.set(0, PodOutcome.preempted("PreemptionByScheduler", "")).decide();
        Action.CreateWorkers again = create(j.gone());
        assertThat(again.resumeStep()).isEqualTo(60);
        assertThat(again.timeline()).isEqualTo("t2");

        // The same value again is not a change.
        j.running();
        assertThat(j.decide().status().getPhase()).isEqualTo(Phase.Running);
    }

    @Test
    void preemptedBeforeTheFirstCheckpointOfAPinnedTimelineResumesFromThePin() {
        Jobs j = new Jobs(1);
        j.job.getSpec().setResumeStep(30L);
        assertThat(create(j.decide()).resumeStep()).isEqualTo(30);
        j.running();
        j.set(0, PodOutcome.preempted("DeletedExternally", "")).decide();
        assertThat(create(j.gone()).resumeStep()).isEqualTo(30);
    }

    @Test
    void resumeStepZeroMeansFromScratch() {
        Jobs j = new Jobs(1);
        j.decide();
        j.checkpoint(40, "t1").running();
        j.job.getSpec().setResumeStep(0L);
        j.decide();
        Action.CreateWorkers c = create(j.gone());
        assertThat(c.resumeStep()).isEqualTo(0); // from scratch: the pod factory writes -1
        assertThat(c.timeline()).isEqualTo("t2");
    }

    @Test
    void invalidCheckpointFallsBackToTheNextOlderValidOne() {
        Jobs j = new Jobs(2);
        j.decide();
        j.checkpoint(20, "t1").running();
        j.checkpoint(40, "t1").running();
        j.set(0, PodOutcome.preempted("DeletedExternally", "")).decide();
        assertThat(create(j.gone()).resumeStep()).isEqualTo(40);
        j.running();
        Decision d =
                j.set(0, PodOutcome.checkpointInvalid(40L, "layer0.W: SHA-256 mismatch")).decide();
        assertThat(d.status().getPhase()).isEqualTo(Phase.Restarting);
        assertThat(d.status().getFailures()).isZero();
        assertThat(d.events()).extracting(JobEvent::reason).contains("InvalidCheckpoint");
        assertThat(d.status().getCheckpoints())
                .filteredOn(r -> r.getStep() == 40)
                .singleElement()
                .satisfies(r -> assertThat(r.usable()).isFalse());
        assertThat(Conditions.find(d.status(), Conditions.CHECKPOINT_VALID).orElseThrow().isTrue())
                .isFalse();
        Action.CreateWorkers c = create(j.gone());
        assertThat(c.resumeStep()).isEqualTo(20);
        assertThat(c.timeline()).isEqualTo("t2");
        assertThat(c.exactStep()).as("a fallback is loaded exactly").isTrue();
        // The invalid step is never taken again, even if its stale report is seen again.
        j.checkpoint(40, "t1").running();
        assertThat(j.job.getStatus().getLatestCheckpoint().getStep()).isEqualTo(20);
    }

    @Test
    void invalidPinnedCheckpointStopsTheJobWithAConditionThatSaysWhy() {
        Jobs j = new Jobs(1);
        j.decide();
        j.checkpoint(40, "t1").running();
        j.job.getSpec().setResumeStep(30L);
        j.decide();
        j.gone();
        j.running();
        Decision d =
                j.set(0, PodOutcome.checkpointInvalid(30L, "step-0000000030: no manifest.json"))
                        .decide();
        assertThat(d.status().getPhase()).isEqualTo(Phase.Failed);
        var failed = Conditions.find(d.status(), Conditions.FAILED).orElseThrow();
        assertThat(failed.getReason()).isEqualTo("PinnedCheckpointInvalid");
        assertThat(failed.getMessage()).contains("spec.resumeStep=30").contains("no manifest.json");

        // Choosing another step reopens the job.
        j.job.getSpec().setResumeStep(40L);
        j.workers.clear();
        Decision reopened = j.decide();
        assertThat(reopened.status().getPhase()).isIn(Phase.Pending, Phase.Restarting);
        assertThat(create(j.decide()).resumeStep()).isEqualTo(40);
    }

    @Test
    void suspendStopsWorkersWithoutCountingAndUnsuspendResumesFromLatest() {
        Jobs j = new Jobs(2);
        j.decide();
        j.checkpoint(40, "t1").running();
        j.job.getSpec().setSuspend(true);
        Decision stopping = j.decide();
        assertThat(stopping.actions()).singleElement().isInstanceOf(Action.DeleteWorkers.class);
        j.checkpoint(45, "t1");
        Decision suspended = j.gone();
        assertThat(suspended.status().getPhase()).isEqualTo(Phase.Suspended);
        assertThat(suspended.actions()).isEmpty();
        assertThat(suspended.status().getPreemptions()).isZero();
        assertThat(suspended.status().getFailures()).isZero();
        j.job.getSpec().setSuspend(false);
        Action.CreateWorkers c = create(j.decide());
        assertThat(c.resumeStep()).isEqualTo(45);
        assertThat(c.attempt()).isEqualTo(2);
        assertThat(c.timeline()).isEqualTo("t1");
    }

    @Test
    void stalePodsOfAnEarlierAttemptAreRemovedBeforeAnyIsCreated() {
        Jobs j = new Jobs(2);
        j.decide();
        j.workers.add(Jobs.worker(0, 0, PodOutcome.of(Kind.RUNNING)));
        Decision d = j.decide();
        assertThat(d.actions()).singleElement().isInstanceOf(Action.DeleteWorkers.class);
    }

    @Test
    void ttlDeletesTheJobAfterItFinished() {
        Jobs j = new Jobs(1);
        j.job.getSpec().setTtlSecondsAfterFinished(60);
        j.decide();
        j.running();
        Decision done = j.set(0, PodOutcome.of(Kind.SUCCEEDED)).decide();
        assertThat(done.requeueAfter()).hasSeconds(60);
        assertThat(j.later(61).decide().actions()).anyMatch(a -> a instanceof Action.DeleteJob);
    }

    @Test
    void anUnchangedRunningJobDecidesNothing() {
        Jobs j = new Jobs(2);
        j.decide();
        j.running();
        Decision d = j.running();
        assertThat(d.actions()).isEmpty();
        assertThat(d.events()).isEmpty();
    }

    @Test
    void changingReplicasRestartsTheGangWithoutCounting() {
        Jobs j = new Jobs(2);
        j.decide();
        j.checkpoint(40, "t1").running();
        j.job.getSpec().setReplicas(3);
        Decision d = j.decide();
        assertThat(d.status().getPhase()).isEqualTo(Phase.Restarting);
        assertThat(d.status().getPreemptions() + d.status().getFailures()).isZero();
        Action.CreateWorkers c = create(j.gone());
        assertThat(c.ranks()).containsExactly(0, 1, 2);
        assertThat(c.resumeStep()).isEqualTo(40);
    }
}
