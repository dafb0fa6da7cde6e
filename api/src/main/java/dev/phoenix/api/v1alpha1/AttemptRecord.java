package dev.phoenix.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;

/**
 * How the current (or last) attempt began and, once it ended, why. Status is Phoenix's write-ahead
 * log: the reason an attempt ended is written before the operator deletes a single pod, so a
 * restarted operator knows which deletions were its own.
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class AttemptRecord {
    private Integer number;
    private Long resumeStep;
    private String timeline;

    @JsonPropertyDescription(
            "True when resumeStep is the user's spec.resumeStep (an invalid pinned step stops the job instead of falling back).")
    private Boolean pinned;

    @JsonPropertyDescription("Number of workers this attempt was started with.")
    private Integer worldSize;

    @JsonPropertyDescription(
            "Hash of spec.template and spec.checkpoint this attempt's pods were built from; a change restarts the gang (event SpecChanged).")
    private String specHash;

    private String startTime;

    /**
     * Why the gang is being torn down: Preemption, Failure, InvalidCheckpoint, ResumeStepChanged,
     * Suspend, Finished.
     */
    private String endReason;

    private String endMessage;
    private String endTime;

    public Integer getNumber() {
        return number;
    }

    public void setNumber(Integer number) {
        this.number = number;
    }

    public Long getResumeStep() {
        return resumeStep;
    }

    public void setResumeStep(Long resumeStep) {
        this.resumeStep = resumeStep;
    }

    public String getTimeline() {
        return timeline;
    }

    public void setTimeline(String timeline) {
        this.timeline = timeline;
    }

    public Boolean getPinned() {
        return pinned;
    }

    public void setPinned(Boolean pinned) {
        this.pinned = pinned;
    }

    public Integer getWorldSize() {
        return worldSize;
    }

    public void setWorldSize(Integer worldSize) {
        this.worldSize = worldSize;
    }

    public String getSpecHash() {
        return specHash;
    }

    public void setSpecHash(String specHash) {
        this.specHash = specHash;
    }

    public String getStartTime() {
        return startTime;
    }

    public void setStartTime(String startTime) {
        this.startTime = startTime;
    }

    public String getEndReason() {
        return endReason;
    }

    public void setEndReason(String endReason) {
        this.endReason = endReason;
    }

    public String getEndMessage() {
        return endMessage;
    }

    public void setEndMessage(String endMessage) {
        this.endMessage = endMessage;
    }

    public String getEndTime() {
        return endTime;
    }

    public void setEndTime(String endTime) {
        this.endTime = endTime;
    }
}
