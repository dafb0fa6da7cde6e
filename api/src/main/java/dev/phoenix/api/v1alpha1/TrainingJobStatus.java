package dev.phoenix.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import java.util.ArrayList;
import java.util.List;

/** What Phoenix observed and decided. Written only by the operator, with optimistic concurrency. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class TrainingJobStatus {
    private Phase phase;
    private List<Condition> conditions = new ArrayList<>();
    private Long observedGeneration;

    @JsonPropertyDescription("How many times the gang was started.")
    private Integer attempt = 0;

    @JsonPropertyDescription("Gang restarts so far (attempt - 1 once started).")
    private Integer restarts = 0;

    private Integer preemptions = 0;
    private Integer failures = 0;

    @JsonPropertyDescription(
            "The current timeline; it changes whenever a gang resumes from a step older than the newest known checkpoint.")
    private String timeline;

    private AttemptRecord currentAttempt;

    @JsonPropertyDescription("The latest checkpoint known valid on the current timeline.")
    private CheckpointRecord latestCheckpoint;

    @JsonPropertyDescription(
            "The committed, verified checkpoints the trainer last reported still on disk (its inventory), newest first, at most 20, plus the few found invalid (valid=false) so they are never resumed from again.")
    private List<CheckpointRecord> checkpoints = new ArrayList<>();

    private Long resumedFromStep;
    private Long currentStep;

    @JsonPropertyDescription(
            "The spec.resumeStep value last acted on, so a change is acted on exactly once.")
    private Long appliedResumeStep;

    @JsonPropertyDescription("The step the current timeline branched from (0 for a fresh start).")
    private Long timelineStartStep;

    private String startTime;
    private String completionTime;

    public Phase getPhase() {
        return phase;
    }

    public void setPhase(Phase phase) {
        this.phase = phase;
    }

    public List<Condition> getConditions() {
        return conditions;
    }

    public void setConditions(List<Condition> conditions) {
        this.conditions = conditions;
    }

    public Long getObservedGeneration() {
        return observedGeneration;
    }

    public void setObservedGeneration(Long observedGeneration) {
        this.observedGeneration = observedGeneration;
    }

    public Integer getAttempt() {
        return attempt;
    }

    public void setAttempt(Integer attempt) {
        this.attempt = attempt;
    }

    public Integer getRestarts() {
        return restarts;
    }

    public void setRestarts(Integer restarts) {
        this.restarts = restarts;
    }

    public Integer getPreemptions() {
        return preemptions;
    }

    public void setPreemptions(Integer preemptions) {
        this.preemptions = preemptions;
    }

    public Integer getFailures() {
        return failures;
    }

    public void setFailures(Integer failures) {
        this.failures = failures;
    }

    public String getTimeline() {
        return timeline;
    }

    public void setTimeline(String timeline) {
        this.timeline = timeline;
    }

    public AttemptRecord getCurrentAttempt() {
        return currentAttempt;
    }

    public void setCurrentAttempt(AttemptRecord currentAttempt) {
        this.currentAttempt = currentAttempt;
    }

    public CheckpointRecord getLatestCheckpoint() {
        return latestCheckpoint;
    }

    public void setLatestCheckpoint(CheckpointRecord latestCheckpoint) {
        this.latestCheckpoint = latestCheckpoint;
    }

    public List<CheckpointRecord> getCheckpoints() {
        return checkpoints;
    }

    public void setCheckpoints(List<CheckpointRecord> checkpoints) {
        this.checkpoints = checkpoints;
    }

    public Long getResumedFromStep() {
        return resumedFromStep;
    }

    public void setResumedFromStep(Long resumedFromStep) {
        this.resumedFromStep = resumedFromStep;
    }

    public Long getCurrentStep() {
        return currentStep;
    }

    public void setCurrentStep(Long currentStep) {
        this.currentStep = currentStep;
    }

    public Long getAppliedResumeStep() {
        return appliedResumeStep;
    }

    public void setAppliedResumeStep(Long appliedResumeStep) {
        this.appliedResumeStep = appliedResumeStep;
    }

    public Long getTimelineStartStep() {
        return timelineStartStep;
    }

    public void setTimelineStartStep(Long timelineStartStep) {
        this.timelineStartStep = timelineStartStep;
    }

    public String getStartTime() {
        return startTime;
    }

    public void setStartTime(String startTime) {
        this.startTime = startTime;
    }

    public String getCompletionTime() {
        return completionTime;
    }

    public void setCompletionTime(String completionTime) {
        this.completionTime = completionTime;
    }

    public int attemptOrZero() {
        return attempt == null ? 0 : attempt;
    }

    public int preemptionsOrZero() {
        return preemptions == null ? 0 : preemptions;
    }

    public int failuresOrZero() {
        return failures == null ? 0 : failures;
    }
}
