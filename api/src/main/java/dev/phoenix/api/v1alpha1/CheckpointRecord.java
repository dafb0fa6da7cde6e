package dev.phoenix.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;

/**
 * A checkpoint the trainer committed, re-verified and reported (or that the operator learned is
 * invalid).
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class CheckpointRecord {
    private Long step;

    @JsonPropertyDescription(
            "sha256 of the checkpoint's manifest.json (which holds every file's sha256).")
    private String digest;

    @JsonPropertyDescription("sha256 of the training state alone; equal for bit-identical states.")
    private String stateDigest;

    private Integer attempt;
    private String timeline;
    private String time;

    @JsonPropertyDescription(
            "False once a trainer found this checkpoint missing or corrupt; it is never resumed from again.")
    private Boolean valid;

    private String invalidReason;

    public CheckpointRecord() {}

    public CheckpointRecord(
            long step,
            String digest,
            String stateDigest,
            Integer attempt,
            String timeline,
            String time) {
        this.step = step;
        this.digest = digest;
        this.stateDigest = stateDigest;
        this.attempt = attempt;
        this.timeline = timeline;
        this.time = time;
        this.valid = true;
    }

    public Long getStep() {
        return step;
    }

    public void setStep(Long step) {
        this.step = step;
    }

    public String getDigest() {
        return digest;
    }

    public void setDigest(String digest) {
        this.digest = digest;
    }

    public String getStateDigest() {
        return stateDigest;
    }

    public void setStateDigest(String stateDigest) {
        this.stateDigest = stateDigest;
    }

    public Integer getAttempt() {
        return attempt;
    }

    public void setAttempt(Integer attempt) {
        this.attempt = attempt;
    }

    public String getTimeline() {
        return timeline;
    }

    public void setTimeline(String timeline) {
        this.timeline = timeline;
    }

    public String getTime() {
        return time;
    }

    public void setTime(String time) {
        this.time = time;
    }

    public Boolean getValid() {
        return valid;
    }

    public void setValid(Boolean valid) {
        this.valid = valid;
    }

    public String getInvalidReason() {
        return invalidReason;
    }

    public void setInvalidReason(String invalidReason) {
        this.invalidReason = invalidReason;
    }

    /** Not a bean accessor on purpose: Jackson must keep serialising the {@code valid} field. */
    public boolean usable() {
        return !Boolean.FALSE.equals(valid);
    }

    public CheckpointRecord copy() {
        CheckpointRecord c = new CheckpointRecord();
        c.step = step;
        c.digest = digest;
        c.stateDigest = stateDigest;
        c.attempt = attempt;
        c.timeline = timeline;
        c.time = time;
        c.valid = valid;
        c.invalidReason = invalidReason;
        return c;
    }
}
