package dev.phoenix.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Max;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.ValidationRule;
import io.fabric8.kubernetes.api.model.PodTemplateSpec;

/** What the user asks for. Field names are the contract of docs/design.md. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class TrainingJobSpec {
    @Min(1)
    @Default("1")
    @JsonPropertyDescription("Number of worker pods, started and restarted together as one gang.")
    private Integer replicas = 1;

    @Required
    // A container restarted in place would leave its rank on another step than the rest of the
    // gang; say so at admission instead of silently overriding the user's restartPolicy.
    @ValidationRule(
            value =
                    "!has(self.spec) || !has(self.spec.restartPolicy) || self.spec.restartPolicy == 'Never'",
            message =
                    "restartPolicy must be Never (or unset): Phoenix restarts the whole gang from a checkpoint, never one container in place",
            fieldPath = ".spec.restartPolicy",
            reason = "FieldValueInvalid")
    @JsonPropertyDescription(
            "Pod template of every worker. Phoenix adds the PHOENIX_* environment, labels, hostname/subdomain and forces restartPolicy Never (a gang restarts as a whole, never one container in place).")
    private PodTemplateSpec template;

    @Required
    @JsonPropertyDescription("Checkpoint location and cadence.")
    private CheckpointSpec checkpoint;

    @Min(0)
    @JsonPropertyDescription(
            "When set or changed, the gang (re)starts from exactly this checkpoint step (0 = from scratch) on a new timeline.")
    private Long resumeStep;

    @Min(0)
    @Default("3")
    @JsonPropertyDescription(
            "Failures of the program itself allowed before the job is Failed. Preemptions do not count.")
    private Integer backoffLimit = 3;

    @Min(0)
    @Default("100")
    @JsonPropertyDescription(
            "Preemptions allowed before the job is Failed; a guard against endless preemption loops.")
    private Integer maxPreemptions = 100;

    @Default("false")
    @JsonPropertyDescription(
            "When true, the workers are stopped (they checkpoint on SIGTERM) and nothing runs until it is false again.")
    private Boolean suspend = false;

    @Min(0)
    @JsonPropertyDescription(
            "Seconds after Succeeded or Failed when the job and everything it owns is deleted.")
    private Integer ttlSecondsAfterFinished;

    @Min(1)
    @Max(65535)
    @Default("29500")
    @JsonPropertyDescription("Port of rank 0 for rendezvous (MASTER_PORT).")
    private Integer masterPort = 29500;

    public Integer getReplicas() {
        return replicas;
    }

    public void setReplicas(Integer replicas) {
        this.replicas = replicas;
    }

    public PodTemplateSpec getTemplate() {
        return template;
    }

    public void setTemplate(PodTemplateSpec template) {
        this.template = template;
    }

    public CheckpointSpec getCheckpoint() {
        return checkpoint;
    }

    public void setCheckpoint(CheckpointSpec checkpoint) {
        this.checkpoint = checkpoint;
    }

    public Long getResumeStep() {
        return resumeStep;
    }

    public void setResumeStep(Long resumeStep) {
        this.resumeStep = resumeStep;
    }

    public Integer getBackoffLimit() {
        return backoffLimit;
    }

    public void setBackoffLimit(Integer backoffLimit) {
        this.backoffLimit = backoffLimit;
    }

    public Integer getMaxPreemptions() {
        return maxPreemptions;
    }

    public void setMaxPreemptions(Integer maxPreemptions) {
        this.maxPreemptions = maxPreemptions;
    }

    public Boolean getSuspend() {
        return suspend;
    }

    public void setSuspend(Boolean suspend) {
        this.suspend = suspend;
    }

    public Integer getTtlSecondsAfterFinished() {
        return ttlSecondsAfterFinished;
    }

    public void setTtlSecondsAfterFinished(Integer ttlSecondsAfterFinished) {
        this.ttlSecondsAfterFinished = ttlSecondsAfterFinished;
    }

    public Integer getMasterPort() {
        return masterPort;
    }

    public void setMasterPort(Integer masterPort) {
        this.masterPort = masterPort;
    }

    public boolean suspended() {
        return Boolean.TRUE.equals(suspend);
    }

    public int replicasOrDefault() {
        return replicas == null ? 1 : replicas;
    }

    public int backoffLimitOrDefault() {
        return backoffLimit == null ? 3 : backoffLimit;
    }

    public int maxPreemptionsOrDefault() {
        return maxPreemptions == null ? 100 : maxPreemptions;
    }

    public int masterPortOrDefault() {
        return masterPort == null ? 29500 : masterPort;
    }
}
