package dev.phoenix.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;

/** Where and how often the trainer checkpoints. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class CheckpointSpec {
    @Required
    @Pattern("^/.*")
    @JsonPropertyDescription(
            "Absolute directory inside the containers where checkpoints live; it must be on a volume that outlives pods (a PVC or hostPath mounted by the template).")
    private String path;

    @Min(1)
    @Default("100")
    @JsonPropertyDescription("Steps between two checkpoints (PHOENIX_CHECKPOINT_INTERVAL).")
    private Integer intervalSteps = 100;

    @Min(1)
    @Default("3")
    @JsonPropertyDescription(
            "How many of the newest valid checkpoints the trainer keeps (PHOENIX_CHECKPOINT_KEEP).")
    private Integer keepLatest = 3;

    public String getPath() {
        return path;
    }

    public void setPath(String path) {
        this.path = path;
    }

    public Integer getIntervalSteps() {
        return intervalSteps;
    }

    public void setIntervalSteps(Integer intervalSteps) {
        this.intervalSteps = intervalSteps;
    }

    public Integer getKeepLatest() {
        return keepLatest;
    }

    public void setKeepLatest(Integer keepLatest) {
        this.keepLatest = keepLatest;
    }
}
