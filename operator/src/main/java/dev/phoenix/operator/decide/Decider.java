package dev.phoenix.operator.decide;

import dev.phoenix.api.v1alpha1.AttemptRecord;
import dev.phoenix.api.v1alpha1.CheckpointRecord;
import dev.phoenix.api.v1alpha1.Phase;
import dev.phoenix.api.v1alpha1.TrainingJob;
import dev.phoenix.api.v1alpha1.TrainingJobSpec;
import dev.phoenix.api.v1alpha1.TrainingJobStatus;
import dev.phoenix.operator.Names;
import dev.phoenix.operator.observe.ObservedJob;
import dev.phoenix.operator.observe.PodOutcome;
import dev.phoenix.operator.observe.PodOutcome.Kind;
import dev.phoenix.operator.observe.Report;
import dev.phoenix.operator.observe.WorkerView;
import dev.phoenix.operator.resume.ResumePlan;
import dev.phoenix.operator.resume.ResumePolicy;
import dev.phoenix.operator.status.CheckpointHistory;
import dev.phoenix.operator.status.Conditions;
import dev.phoenix.operator.status.StatusBounds;
import dev.phoenix.operator.status.Timelines;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * The decide step of observe → decide → act: a pure function from what was observed to the next
 * status and the actions that follow it. It never talks to the API server, so every rule of
 * docs/design.md is unit-tested here.
 *
 * <p>Status is written before any action runs. The reason an attempt ends is therefore on record
 * before Phoenix deletes a single pod, and a pod deletion that status does not explain was not
 * Phoenix's.
 */
public final class Decider {
    /** How soon to reconcile again when nothing else will trigger it. */
    static final Duration NEXT_LOOK = Duration.ofMillis(100);

    private static final KubernetesSerialization SERIALIZATION = new KubernetesSerialization();

    private final ObservedJob obs;
    private final TrainingJobSpec spec;
    private final TrainingJobStatus s;
    private final Decision d;
    private final Instant now;
    private final Long generation;

    private Decider(ObservedJob obs) {
        this.obs = obs;
        TrainingJob job = obs.job();
        this.spec = job.getSpec();
        TrainingJobStatus old = job.getStatus() == null ? new TrainingJobStatus() : job.getStatus();
        // Never mutate what the informer cache handed us (JOSDK 5 no longer clones it).
        this.s = SERIALIZATION.clone(old);
        this.d = new Decision(s);
        this.now = obs.now();
        this.generation = job.getMetadata().getGeneration();
    }

    public static Decision decide(ObservedJob obs) {
        Decider decider = new Decider(obs);
        decider.run();
        StatusBounds.apply(decider.s);
        return decider.d;
    }

    private void run() {
        if (s.getPhase() == null) {
            s.setPhase(Phase.Pending);
            s.setTimeline(Timelines.FIRST);
            s.setTimelineStartStep(0L);
            s.setAttempt(0);
            s.setRestarts(0);
            s.setPreemptions(0);
            s.setFailures(0);
            s.setStartTime(now.toString());
        }
        s.setObservedGeneration(generation);
        absorbReports();
        applyResumeStepChange();
        ensureResources();

        Phase phase = s.getPhase();
        if (phase.isTerminal()) {
            settleFinished();
        } else if (spec.suspended()) {
            suspend();
        } else if (phase == Phase.Suspended) {
            Conditions.set(
                    s,
                    Conditions.SUSPENDED,
                    false,
                    "Resumed",
                    "spec.suspend is false",
                    now,
                    generation);
            startAttempt("Unsuspended");
        } else if (phase == Phase.Restarting) {
            if (LostPeerPolicy.settle(
                            this::preemption,
                            this::failure,
                            s.getCurrentAttempt(),
                            obs.workersOfAttempt(s.attemptOrZero()),
                            obs.workers().isEmpty())
                    && s.getPhase().isTerminal()) {
                return;
            }
            if (obs.workers().isEmpty()) {
                startAttempt(
                        s.getCurrentAttempt() == null
                                ? "Restart"
                                : s.getCurrentAttempt().getEndReason());
            } else {
                deleteAll(obs.workers());
            }
        } else if (s.attemptOrZero() == 0) {
            startAttempt("Created");
        } else {
            watchAttempt();
        }
    }

    // ---- reports
    // ----------------------------------------------------------------------------------

    /**
     * Mirrors the trainer's reports into status, for the current timeline only (docs/design.md
     * "Reporting"), after {@link ReportValidator} believed them: the inventory becomes {@code
     * checkpoints}, a checkpoint report moves {@code latestCheckpoint} forward. A rejected report
     * is a condition and an event only.
     */
    private void absorbReports() {
        ReportValidator v =
                new ReportValidator(
                        s, SpecFacts.totalSteps(spec), obs.job().getMetadata().getUid());
        List<String> rejected = new ArrayList<>(obs.reportProblems());
        // Keys whose parsed value the validator refused (unparseable values never hold the
        // trainer back: it overwrites what it cannot read).
        java.util.Set<String> rejectedKeys = new java.util.TreeSet<>();
        Report.Progress p = obs.progress();
        if (p != null) {
            List<String> problems = v.progress(p);
            rejected.addAll(problems);
            if (!problems.isEmpty()) {
                rejectedKeys.add(Names.REPORT_KEY_PROGRESS);
                p = null;
            }
        }
        Report.Inventory inv = obs.inventory();
        if (inv != null) {
            List<String> problems = v.inventory(inv);
            rejected.addAll(problems);
            if (problems.isEmpty()
                    && Objects.equals(inv.timeline(), s.getTimeline())
                    && Objects.equals(inv.attempt(), s.getAttempt())) {
                String invTimeline = inv.timeline();
                CheckpointHistory.mirror(
                        s,
                        inv.checkpoints().stream()
                                .map(
                                        e ->
                                                new CheckpointRecord(
                                                        e.step(),
                                                        e.digest(),
                                                        e.stateDigest(),
                                                        null,
                                                        e.timeline() == null
                                                                ? invTimeline
                                                                : e.timeline(),
                                                        null))
                                .toList());
                recordActualResume(inv);
            } else if (!problems.isEmpty()) {
                rejectedKeys.add(Names.REPORT_KEY_INVENTORY);
                inv = null;
            }
        }
        Report r = obs.checkpointReport();
        if (r != null && Objects.equals(r.timeline(), s.getTimeline())) {
            List<String> problems = v.checkpoint("report key checkpoint", r, p, inv);
            rejected.addAll(problems);
            if (problems.isEmpty()) {
                CheckpointHistory.accept(s, r.toRecord());
            } else {
                rejectedKeys.add(Names.REPORT_KEY_CHECKPOINT);
            }
        }
        for (WorkerView w : obs.workers()) {
            Report t = w.terminationReport();
            if (t != null && Objects.equals(t.timeline(), s.getTimeline())) {
                List<String> problems =
                        v.checkpoint("termination message of " + w.name(), t, null, null);
                rejected.addAll(problems);
                if (problems.isEmpty()) {
                    CheckpointHistory.accept(s, t.toRecord());
                }
            }
        }
        if (p != null
                && Objects.equals(p.timeline(), s.getTimeline())
                && Objects.equals(p.attempt(), s.getAttempt())) {
            s.setCurrentStep(p.step());
        }
        CheckpointRecord latest = s.getLatestCheckpoint();
        if (latest != null
                && latest.usable()
                && latest.getStep() != null
                && (s.getCurrentStep() == null || s.getCurrentStep() < latest.getStep())) {
            s.setCurrentStep(latest.getStep());
        }
        reportVerdict(rejected, rejectedKeys);
    }

    /**
     * The attempt's rank 0 resumed from a newer checkpoint of this timeline than the step it was
     * given (PHOENIX_RESUME_EXACT=false: the report of that checkpoint had not arrived before the
     * restart). Status says where the attempt really started; the inventory just mirrored lists the
     * step, so latestCheckpoint is there already.
     */
    private void recordActualResume(Report.Inventory inv) {
        AttemptRecord a = s.getCurrentAttempt();
        Long from = inv.resumedFrom();
        if (a == null
                || from == null
                || a.getResumeStep() == null
                || from <= a.getResumeStep()
                || Boolean.TRUE.equals(a.getPinned())
                || inv.checkpoints().stream().noneMatch(e -> Objects.equals(e.step(), from))) {
            return;
        }
        long given = a.getResumeStep();
        a.setResumeStep(from);
        s.setResumedFromStep(from);
        if (s.getCurrentStep() == null || s.getCurrentStep() < from) {
            s.setCurrentStep(from);
        }
        d.event(
                JobEvent.normal(
                        "ResumedFromNewer",
                        "Attempt "
                                + a.getNumber()
                                + ": rank 0 found checkpoint step "
                                + from
                                + " of timeline "
                                + s.getTimeline()
                                + " on disk, newer than step "
                                + given
                                + " that Phoenix knew of (its report had not arrived before the"
                                + " restart), and resumed from it instead of moving it aside"));
    }

    private void reportVerdict(List<String> rejected, java.util.Set<String> rejectedKeys) {
        if (rejected.isEmpty()) {
            if (Conditions.find(s, Conditions.REPORTS_VALID).map(c -> !c.isTrue()).orElse(false)) {
                Conditions.set(
                        s,
                        Conditions.REPORTS_VALID,
                        true,
                        "Valid",
                        "the trainer's reports pass Phoenix's checks",
                        now,
                        generation);
            }
            return;
        }
        String message =
                StatusBounds.cut(
                        "rejected, not copied into status: " + String.join("; ", rejected),
                        StatusBounds.MESSAGE);
        boolean already =
                Conditions.find(s, Conditions.REPORTS_VALID)
                        .map(c -> !c.isTrue() && message.equals(c.getMessage()))
                        .orElse(false);
        Conditions.set(
                s, Conditions.REPORTS_VALID, false, "ReportRejected", message, now, generation);
        if (!already) {
            d.event(JobEvent.warning("ReportRejected", message));
        }
        clearRejected(already, rejectedKeys);
    }

    /**
     * A rejected value left in the ConfigMap can wedge reporting: the trainer never overwrites a
     * report of a newer attempt than its own (so that a stale pod cannot undo a newer one), and a
     * forged future attempt would silence it for good. The key is removed once the same rejection
     * is seen on a second look, whose status already carries the first one: by then the status the
     * value was judged against is this reconciler's own latest write, never a stale cache (a report
     * of an attempt just started is believed on that second look, not removed). Until then, look
     * again soon: a silenced trainer writes nothing that would trigger a reconcile.
     */
    private void clearRejected(boolean seenBefore, java.util.Set<String> rejectedKeys) {
        if (rejectedKeys.isEmpty() || obs.reportVersion() == null) {
            return;
        }
        if (!seenBefore) {
            d.requeueWithin(Duration.ofSeconds(2));
            return;
        }
        d.act(new Action.ClearReportKeys(List.copyOf(rejectedKeys), obs.reportVersion()));
        d.event(
                JobEvent.warning(
                        "ReportCleared",
                        "removed the rejected report keys "
                                + rejectedKeys
                                + " from ConfigMap "
                                + Names.reportConfigMap(obs.job().getMetadata().getName())
                                + " so that they cannot hold back the trainer's next report"));
    }

    // ---- owned objects
    // ------------------------------------------------------------------------------

    /**
     * Owned objects deleted while the job lives are recreated at once, without touching the gang.
     */
    private void ensureResources() {
        // Right after the first start the caches may not show what it just created yet: not a
        // deletion.
        boolean justCreated = s.attemptOrZero() == 1 && s.getPhase() == Phase.Pending;
        if (!obs.missingResources().isEmpty()
                && !s.getPhase().isTerminal()
                && s.attemptOrZero() > 0
                && !justCreated) {
            d.event(
                    JobEvent.warning(
                            "ResourceRecreated",
                            "recreating "
                                    + String.join(", ", obs.missingResources())
                                    + " (deleted while the job runs); the gang keeps running"));
            d.act(new Action.EnsureResources(obs.missingResources()));
        }
    }

    // ---- spec.resumeStep
    // ----------------------------------------------------------------------------

    /**
     * A set or changed spec.resumeStep ends the running (or finished) attempt; the next start pins
     * it.
     */
    private void applyResumeStepChange() {
        if (!ResumePolicy.pinRequested(spec, s) || s.attemptOrZero() == 0) {
            return; // the first attempt starts from it
        }
        Phase phase = s.getPhase();
        if (phase == Phase.Restarting || phase == Phase.Suspended) {
            return; // the next start takes it
        }
        Long wanted = spec.getResumeStep();
        d.event(
                JobEvent.normal(
                        "ResumeStepChanged",
                        "spec.resumeStep is "
                                + wanted
                                + ": every rank restarts from "
                                + (wanted == 0 ? "scratch" : "step " + wanted)
                                + " on a new timeline"));
        if (phase.isTerminal()) {
            // A finished job is reopened: the user asked to train again from that step.
            s.setCompletionTime(null);
            Conditions.clear(
                    s,
                    Conditions.SUCCEEDED,
                    "ResumeStepChanged",
                    "reopened by spec.resumeStep",
                    now,
                    generation);
            Conditions.clear(
                    s,
                    Conditions.FAILED,
                    "ResumeStepChanged",
                    "reopened by spec.resumeStep",
                    now,
                    generation);
        }
        endAttempt("ResumeStepChanged", "spec.resumeStep changed to " + wanted);
    }

    // ---- starting an attempt
    // -----------------------------------------------------------------------

    private void startAttempt(String cause) {
        List<String> problems = SpecValidator.problems(obs.job(), obs.peers());
        if (!problems.isEmpty()) {
            // Nothing starts until the spec is fixed; the next edit (a new generation) is checked
            // again.
            String message = String.join("; ", problems);
            boolean already =
                    Conditions.find(s, Conditions.SPEC_VALID)
                            .map(c -> !c.isTrue() && message.equals(c.getMessage()))
                            .orElse(false);
            Conditions.set(
                    s, Conditions.SPEC_VALID, false, "InvalidSpec", message, now, generation);
            if (!already) {
                d.event(JobEvent.warning("InvalidSpec", message));
            }
            deleteAll(obs.workers());
            // Another job's location may be freed without an event for this job: look again now and
            // then.
            d.requeueWithin(Duration.ofSeconds(10));
            return;
        }
        if (Conditions.find(s, Conditions.SPEC_VALID).isPresent()) {
            Conditions.set(
                    s,
                    Conditions.SPEC_VALID,
                    true,
                    "Valid",
                    "the spec passes Phoenix's checks",
                    now,
                    generation);
        }
        if (!obs.workers().isEmpty()) {
            // Never two attempts at once: the old gang must be gone first.
            s.setPhase(Phase.Restarting);
            deleteAll(obs.workers());
            return;
        }
        int attempt = s.attemptOrZero() + 1;
        ResumePlan plan = ResumePolicy.next(spec, s);
        long resume = plan.step();
        boolean pinned = plan.pinned();
        if (pinned) {
            s.setAppliedResumeStep(spec.getResumeStep());
        }
        if (plan.newTimeline() || attempt == 1) {
            s.setTimeline(plan.timeline());
            s.setTimelineStartStep(resume);
            // The trainer moves every directory newer than the step aside: status forgets them too.
            CheckpointHistory.branch(s, resume);
            s.setLatestCheckpoint(
                    resume <= 0
                            ? null
                            : CheckpointHistory.find(s, resume)
                                    .map(CheckpointRecord::copy)
                                    .orElseGet(() -> unverifiedRecord(resume)));
        }
        AttemptRecord previous = s.getCurrentAttempt();
        if (previous != null && previous.getEndTime() != null) {
            d.recoveryLatency(Duration.between(Instant.parse(previous.getEndTime()), now));
        }
        AttemptRecord a = new AttemptRecord();
        a.setNumber(attempt);
        a.setResumeStep(resume);
        a.setTimeline(s.getTimeline());
        a.setPinned(pinned ? true : null);
        a.setWorldSize(spec.replicasOrDefault());
        a.setSpecHash(SpecHash.of(spec));
        a.setStartTime(now.toString());
        s.setCurrentAttempt(a);
        s.setAttempt(attempt);
        s.setRestarts(attempt - 1);
        s.setResumedFromStep(resume);
        s.setCurrentStep(resume);
        s.setPhase(Phase.Pending);
        Conditions.set(
                s,
                Conditions.RESTARTING,
                false,
                "Started",
                "attempt " + attempt + " started",
                now,
                generation);
        Conditions.set(
                s,
                Conditions.RUNNING,
                false,
                "Starting",
                "waiting for every worker of attempt " + attempt + " to run",
                now,
                generation);

        String from = resume <= 0 ? "from scratch" : "from step " + resume;
        String what =
                spec.replicasOrDefault() + " worker" + (spec.replicasOrDefault() == 1 ? "" : "s");
        if (attempt == 1) {
            d.event(
                    JobEvent.normal(
                            "Started",
                            "Attempt 1: starting "
                                    + what
                                    + " "
                                    + from
                                    + " on timeline "
                                    + s.getTimeline()));
        } else {
            d.event(
                    JobEvent.normal(
                            "Resumed",
                            "Attempt "
                                    + attempt
                                    + ": restarting "
                                    + what
                                    + " "
                                    + from
                                    + " on timeline "
                                    + s.getTimeline()
                                    + " after "
                                    + cause));
        }
        d.act(
                new Action.CreateWorkers(
                        attempt,
                        resume,
                        plan.exact(),
                        s.getTimeline(),
                        allRanks(),
                        true,
                        attempt == 1 || !obs.missingResources().isEmpty()));
    }

    /**
     * A step the user pinned that no inventory lists: the trainer will verify it. Not claimed valid
     * ({@code valid} unset) until a trainer resumes from it and reports it.
     */
    private CheckpointRecord unverifiedRecord(long step) {
        CheckpointRecord r = new CheckpointRecord();
        r.setStep(step);
        r.setTimeline(s.getTimeline());
        r.setTime(now.toString());
        return r;
    }

    // ---- watching a running attempt
    // ----------------------------------------------------------------

    private void watchAttempt() {
        int attempt = s.attemptOrZero();
        List<WorkerView> current = obs.workersOfAttempt(attempt);
        List<WorkerView> stale =
                obs.workers().stream().filter(w -> w.attempt() != attempt).toList();

        Optional<WorkerView> rank0 = current.stream().filter(w -> w.rank() == 0).findFirst();
        if (rank0.isPresent() && rank0.get().outcome().kind() == Kind.SUCCEEDED) {
            succeed(rank0.get());
            return;
        }
        AttemptRecord a = s.getCurrentAttempt();
        int worldSize =
                a != null && a.getWorldSize() != null ? a.getWorldSize() : spec.replicasOrDefault();
        if (worldSize != spec.replicasOrDefault()) {
            endAttempt(
                    "ReplicasChanged",
                    "spec.replicas changed from " + worldSize + " to " + spec.replicasOrDefault());
            d.event(
                    JobEvent.normal(
                            "ReplicasChanged",
                            "spec.replicas is "
                                    + spec.replicasOrDefault()
                                    + ": restarting the gang from the latest checkpoint"));
            return;
        }
        if (a != null && a.getSpecHash() != null && !a.getSpecHash().equals(SpecHash.of(spec))) {
            // Policy (docs/design.md "Spec changes of a running job"): a changed template or
            // checkpoint spec
            // is applied at once with a visible gang restart from the latest checkpoint, as for
            // replicas.
            endAttempt("SpecChanged", "spec.template or spec.checkpoint changed");
            d.event(
                    JobEvent.normal(
                            "SpecChanged",
                            "spec.template or spec.checkpoint changed: restarting the gang "
                                    + resumeDescription()
                                    + " with the new pod template"));
            return;
        }
        // A set, not a scan per rank: at 1,000 ranks a scan per rank was a million comparisons on
        // every pod event, the operator's largest CPU cost during a large gang's recovery.
        Set<Integer> present = current.stream().map(WorkerView::rank).collect(Collectors.toSet());
        List<Integer> missing = new ArrayList<>();
        for (int r = 0; r < worldSize; r++) {
            if (!present.contains(r)) {
                missing.add(r);
            }
        }
        Optional<WorkerView> preempted = first(current, Kind.PREEMPTED);
        Optional<WorkerView> invalid = first(current, Kind.CHECKPOINT_INVALID);
        // A program's own failure before a rank that only lost its peer (LostPeerPolicy).
        Optional<WorkerView> failed =
                current.stream()
                        .filter(w -> w.outcome().kind() == Kind.FAILED)
                        .min(
                                java.util.Comparator.comparing(
                                        w -> LostPeerPolicy.lostPeer(w.outcome())));

        // A preemption is the root cause when it coincides with failures: peers of a vanished rank
        // crash.
        if (preempted.isPresent()) {
            preemption(preempted.get().name(), preempted.get().outcome());
        } else if (!missing.isEmpty() && s.getPhase() == Phase.Running) {
            String pod = Names.workerPod(obs.job().getMetadata().getName(), missing.get(0));
            preemption(
                    pod,
                    PodOutcome.preempted(
                            "PodVanished", "pod " + pod + " disappeared while running"));
        } else if (invalid.isPresent()) {
            invalidCheckpoint(invalid.get());
        } else if (failed.isPresent() && LostPeerPolicy.lostPeer(failed.get().outcome())) {
            WorkerView w = failed.get();
            d.event(
                    JobEvent.warning(
                            LostPeerPolicy.REASON,
                            "Worker "
                                    + w.name()
                                    + " lost a peer ("
                                    + w.outcome().message()
                                    + "). Restarting the gang "
                                    + resumeDescription()
                                    + "; counted as a preemption if a worker of "
                                    + "this attempt turns out preempted before the old gang is gone, else as a failure."));
            endAttempt(LostPeerPolicy.REASON, w.name() + ": " + w.outcome().message());
        } else if (failed.isPresent()) {
            failure(failed.get());
        } else if (!stale.isEmpty()) {
            // Pods of an older attempt (an operator restart mid-recovery): remove them before
            // creating any.
            deleteAll(stale);
        } else if (!missing.isEmpty()) {
            d.act(
                    new Action.CreateWorkers(
                            attempt,
                            a == null || a.getResumeStep() == null ? 0 : a.getResumeStep(),
                            // The plan is not kept: a pin, or a step where the timeline began
                            // (a fallback), is exact.
                            a == null
                                    || Boolean.TRUE.equals(a.getPinned())
                                    || Objects.equals(a.getResumeStep(), s.getTimelineStartStep()),
                            s.getTimeline(),
                            missing,
                            false,
                            false));
        } else if (cannotStart(current).isPresent()) {
            WorkerView w = cannotStart(current).get();
            String message =
                    "worker "
                            + w.name()
                            + " cannot start: "
                            + w.outcome().reason()
                            + (w.outcome().message() == null ? "" : ": " + w.outcome().message());
            boolean already =
                    Conditions.find(s, Conditions.RUNNING)
                            .map(c -> !c.isTrue() && message.equals(c.getMessage()))
                            .orElse(false);
            if (s.getPhase() == Phase.Running) {
                s.setPhase(Phase.Pending);
            }
            Conditions.set(
                    s, Conditions.RUNNING, false, w.outcome().reason(), message, now, generation);
            if (!already) {
                d.event(JobEvent.warning("WorkerNotStarting", message));
            }
        } else if (current.stream()
                .allMatch(
                        w ->
                                w.outcome().kind() == Kind.RUNNING
                                        || w.outcome().kind() == Kind.SUCCEEDED)) {
            if (s.getPhase() != Phase.Running) {
                s.setPhase(Phase.Running);
                Conditions.set(
                        s,
                        Conditions.RUNNING,
                        true,
                        "AllWorkersRunning",
                        "all " + worldSize + " workers of attempt " + attempt + " are running",
                        now,
                        generation);
            }
        }
    }

    /**
     * A worker that is pending for a reason it will not get over by itself (image, config,
     * scheduling).
     */
    private static Optional<WorkerView> cannotStart(List<WorkerView> workers) {
        return workers.stream()
                .filter(w -> w.outcome().kind() == Kind.PENDING && w.outcome().reason() != null)
                .findFirst();
    }

    private static Optional<WorkerView> first(List<WorkerView> workers, Kind kind) {
        return workers.stream().filter(w -> w.outcome().kind() == kind).findFirst();
    }

    private void preemption(String pod, PodOutcome outcome) {
        s.setPreemptions(s.preemptionsOrZero() + 1);
        String why =
                outcome.reason()
                        + (outcome.message() == null || outcome.message().isBlank()
                                ? ""
                                : ": " + outcome.message());
        if (s.preemptionsOrZero() > spec.maxPreemptionsOrDefault()) {
            fail(
                    "PreemptionLimitExceeded",
                    "worker "
                            + pod
                            + " was preempted ("
                            + why
                            + "); that is preemption "
                            + s.getPreemptions()
                            + ", more than spec.maxPreemptions="
                            + spec.maxPreemptionsOrDefault());
            return;
        }
        d.event(
                JobEvent.warning(
                        "Preempted",
                        "Worker "
                                + pod
                                + " was preempted ("
                                + why
                                + "). Restarting the gang "
                                + resumeDescription()
                                + "; preemption "
                                + s.getPreemptions()
                                + " of at most "
                                + spec.maxPreemptionsOrDefault()
                                + ", not counted as a failure."));
        int attempt = s.attemptOrZero();
        endAttempt(
                "Preemption",
                pod + ": " + why,
                obs.workers().stream().allMatch(w -> w.attempt() == attempt));
    }

    private void failure(WorkerView w) {
        failure(
                w.name(),
                w.outcome().message() == null ? w.outcome().reason() : w.outcome().message());
    }

    private void failure(String pod, String why) {
        s.setFailures(s.failuresOrZero() + 1);
        if (s.failuresOrZero() > spec.backoffLimitOrDefault()) {
            fail(
                    "BackoffLimitExceeded",
                    "worker "
                            + pod
                            + " failed ("
                            + why
                            + "); that is failure "
                            + s.getFailures()
                            + ", more than spec.backoffLimit="
                            + spec.backoffLimitOrDefault());
            return;
        }
        d.event(
                JobEvent.warning(
                        "Failed",
                        "Worker "
                                + pod
                                + " failed ("
                                + why
                                + "). Restarting the gang "
                                + resumeDescription()
                                + "; failure "
                                + s.getFailures()
                                + " of backoffLimit "
                                + spec.backoffLimitOrDefault()
                                + "."));
        endAttempt("Failure", pod + ": " + why);
    }

    private void invalidCheckpoint(WorkerView w) {
        AttemptRecord a = s.getCurrentAttempt();
        long step =
                w.outcome().invalidStep() != null
                        ? w.outcome().invalidStep()
                        : a != null && a.getResumeStep() != null ? a.getResumeStep() : 0;
        String why = w.outcome().message() == null ? "missing or invalid" : w.outcome().message();
        if (PodOutcome.DIRECTORY_IN_USE.equals(w.outcome().reason())) {
            // Another job's checkpoints: no step of this job is at fault, and no fallback can help.
            fail(
                    "CheckpointDirectoryInUse",
                    "worker " + w.name() + " refused spec.checkpoint.path: " + why);
            return;
        }
        CheckpointHistory.markInvalid(s, step, s.getTimeline(), why);
        Conditions.set(
                s,
                Conditions.CHECKPOINT_VALID,
                false,
                "CheckpointInvalid",
                "checkpoint step " + step + " is missing or invalid: " + why,
                now,
                generation);
        if (a != null && Boolean.TRUE.equals(a.getPinned())) {
            fail(
                    "PinnedCheckpointInvalid",
                    "spec.resumeStep="
                            + step
                            + " names a checkpoint that is missing or "
                            + "invalid ("
                            + why
                            + "). Phoenix does not pick another step for a pinned resume: set "
                            + "spec.resumeStep to a valid step (or 0 to start from scratch) to continue.");
            return;
        }
        endAttempt(ResumePolicy.INVALID_CHECKPOINT, "checkpoint step " + step + ": " + why);
        long fallback = ResumePolicy.next(spec, s).step();
        d.event(
                JobEvent.warning(
                        "InvalidCheckpoint",
                        "Worker "
                                + w.name()
                                + " refused checkpoint step "
                                + step
                                + " ("
                                + why
                                + "). It is marked invalid; the gang restarts from "
                                + (fallback == 0 ? "scratch" : "step " + fallback)
                                + ", the newest older valid checkpoint on disk."));
    }

    private String resumeDescription() {
        CheckpointRecord latest = s.getLatestCheckpoint();
        // Said before the old pods are gone: a worker may still report an emergency checkpoint on
        // SIGTERM,
        // so the step is the latest so far, and the Resumed event names the one actually used.
        return latest != null && latest.usable() && latest.getStep() != null && latest.getStep() > 0
                ? "from its latest valid checkpoint (step " + latest.getStep() + " so far)"
                : "from its latest valid checkpoint (none so far)";
    }

    /**
     * Records in the attempt's record why it ended (before any pod is deleted: the write-ahead
     * log).
     */
    private void recordEnd(String reason, String message) {
        AttemptRecord a = s.getCurrentAttempt();
        if (a != null) {
            a.setEndReason(reason);
            a.setEndMessage(message);
            a.setEndTime(now.toString());
        }
    }

    /** Records why the attempt ends, then tears the gang down. */
    private void endAttempt(String reason, String message) {
        endAttempt(reason, message, false);
    }

    /**
     * @param withStatus the platform disrupted this attempt and the cache holds no pod of another
     *     attempt: the deletes go out with the status write (Action.DeleteWorkers)
     */
    private void endAttempt(String reason, String message, boolean withStatus) {
        recordEnd(reason, message);
        d.endedBy(reason);
        s.setPhase(Phase.Restarting);
        Conditions.set(s, Conditions.RESTARTING, true, reason, message, now, generation);
        Conditions.set(s, Conditions.RUNNING, false, reason, message, now, generation);
        deleteAll(obs.workers(), withStatus);
        if (obs.workers().isEmpty()) {
            // Every pod of the gang is already gone (vanished while the operator was down): no pod
            // event
            // will come to wake the next reconcile, and a status write does not either
            // (generation-aware
            // filtering). Look again at once; that reconcile starts the next attempt.
            d.requeueWithin(NEXT_LOOK);
        }
    }

    // ---- endings
    // -----------------------------------------------------------------------------------

    private void succeed(WorkerView rank0) {
        s.setPhase(Phase.Succeeded);
        s.setCompletionTime(now.toString());
        recordEnd("Succeeded", null);
        String at =
                s.getLatestCheckpoint() != null && s.getLatestCheckpoint().getStep() != null
                        ? " at step " + s.getLatestCheckpoint().getStep()
                        : "";
        String msg =
                "rank 0 ("
                        + rank0.name()
                        + ") finished"
                        + at
                        + " in attempt "
                        + s.getAttempt()
                        + " after "
                        + s.preemptionsOrZero()
                        + " preemption(s) and "
                        + s.failuresOrZero()
                        + " failure(s)";
        Conditions.set(s, Conditions.SUCCEEDED, true, "Completed", msg, now, generation);
        Conditions.set(s, Conditions.RUNNING, false, "Completed", msg, now, generation);
        d.event(JobEvent.normal("Succeeded", msg));
        settleFinished();
    }

    private void fail(String reason, String message) {
        s.setPhase(Phase.Failed);
        s.setCompletionTime(now.toString());
        recordEnd(reason, message);
        d.endedBy(reason);
        Conditions.set(s, Conditions.FAILED, true, reason, message, now, generation);
        Conditions.set(s, Conditions.RUNNING, false, reason, message, now, generation);
        Conditions.set(s, Conditions.RESTARTING, false, reason, message, now, generation);
        d.event(JobEvent.warning(reason, message));
        settleFinished();
    }

    /**
     * A finished job keeps its ended pods for their logs, stops any still running, and honours its
     * TTL.
     */
    private void settleFinished() {
        deleteAll(
                obs.workers().stream().filter(w -> !w.outcome().ended() || w.nodeGone()).toList());
        Integer ttl = spec.getTtlSecondsAfterFinished();
        if (ttl != null && s.getCompletionTime() != null) {
            Instant expiry = Instant.parse(s.getCompletionTime()).plusSeconds(ttl);
            if (!now.isBefore(expiry)) {
                d.act(new Action.DeleteJob());
            } else {
                d.requeueWithin(Duration.between(now, expiry));
            }
        }
    }

    private void suspend() {
        if (!obs.workers().isEmpty()) {
            if (s.getPhase() != Phase.Restarting) {
                endAttempt("Suspend", "spec.suspend is true");
                d.event(
                        JobEvent.normal(
                                "Suspending",
                                "spec.suspend is true: stopping every worker; they checkpoint "
                                        + "on SIGTERM and the job resumes from the latest checkpoint when unsuspended"));
            } else {
                deleteAll(obs.workers());
            }
            return;
        }
        if (s.getPhase() != Phase.Suspended) {
            s.setPhase(Phase.Suspended);
            Conditions.set(
                    s,
                    Conditions.SUSPENDED,
                    true,
                    "Suspended",
                    "spec.suspend is true; no worker runs",
                    now,
                    generation);
            Conditions.set(
                    s,
                    Conditions.RESTARTING,
                    false,
                    "Suspended",
                    "spec.suspend is true",
                    now,
                    generation);
            Conditions.set(
                    s,
                    Conditions.RUNNING,
                    false,
                    "Suspended",
                    "spec.suspend is true",
                    now,
                    generation);
            d.event(
                    JobEvent.normal(
                            "Suspended",
                            "All workers stopped; latest checkpoint "
                                    + (s.getLatestCheckpoint() == null
                                            ? "none"
                                            : "step " + s.getLatestCheckpoint().getStep())));
        }
    }

    private void deleteAll(List<WorkerView> workers) {
        deleteAll(workers, false);
    }

    private void deleteAll(List<WorkerView> workers, boolean withStatus) {
        List<Action.DeleteWorkers.Target> targets =
                workers.stream()
                        .filter(w -> !w.deleting() || w.nodeGone())
                        .map(
                                w ->
                                        new Action.DeleteWorkers.Target(
                                                w.name(), w.attempt(), w.nodeGone()))
                        .toList();
        if (!targets.isEmpty()) {
            d.act(new Action.DeleteWorkers(targets, withStatus));
        }
    }

    private List<Integer> allRanks() {
        List<Integer> ranks = new ArrayList<>();
        for (int r = 0; r < spec.replicasOrDefault(); r++) {
            ranks.add(r);
        }
        return ranks;
    }
}
