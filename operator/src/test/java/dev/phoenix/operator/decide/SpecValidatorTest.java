package dev.phoenix.operator.decide;

import static org.assertj.core.api.Assertions.assertThat;

import dev.phoenix.api.v1alpha1.Phase;
import dev.phoenix.operator.status.Conditions;
import io.fabric8.kubernetes.api.model.VolumeBuilder;
import io.fabric8.kubernetes.api.model.VolumeMountBuilder;
import java.util.List;
import org.junit.jupiter.api.Test;

class SpecValidatorTest {
    @Test
    void aCheckpointPathOnAPersistentVolumeIsValid() {
        assertThat(SpecValidator.problems(new Jobs(1).job.getSpec())).isEmpty();
    }

    @Test
    void aSubdirectoryOfAMountIsCovered() {
        Jobs j = new Jobs(1);
        j.job.getSpec().getCheckpoint().setPath("/ckpt/run-7");
        assertThat(SpecValidator.problems(j.job.getSpec())).isEmpty();
        j.job.getSpec().getCheckpoint().setPath("/ckpt-other");
        assertThat(SpecValidator.problems(j.job.getSpec()))
                .singleElement()
                .asString()
                .startsWith(
                        "spec.checkpoint.path: /ckpt-other is not on any volumeMount of container trainer");
    }

    @Test
    void anEmptyDirLosesCheckpointsWithThePod() {
        Jobs j = new Jobs(1);
        j.job.getSpec()
                .getTemplate()
                .getSpec()
                .setVolumes(
                        List.of(
                                new VolumeBuilder()
                                        .withName("ckpt")
                                        .withNewEmptyDir()
                                        .endEmptyDir()
                                        .build()));
        assertThat(SpecValidator.problems(j.job.getSpec()))
                .singleElement()
                .asString()
                .contains("spec.checkpoint.path")
                .contains("emptyDir")
                .contains("PersistentVolumeClaim");
    }

    @Test
    void aReadOnlyMountOrAMissingVolumeIsReported() {
        Jobs j = new Jobs(1);
        j.job.getSpec()
                .getTemplate()
                .getSpec()
                .getContainers()
                .get(0)
                .setVolumeMounts(
                        List.of(
                                new VolumeMountBuilder()
                                        .withName("ckpt")
                                        .withMountPath("/ckpt")
                                        .withReadOnly(true)
                                        .build()));
        assertThat(SpecValidator.problems(j.job.getSpec()))
                .singleElement()
                .asString()
                .contains("readOnly");
        j.job.getSpec().getTemplate().getSpec().setVolumes(List.of());
        assertThat(SpecValidator.problems(j.job.getSpec()))
                .singleElement()
                .asString()
                .startsWith("spec.template.spec.volumes: no volume named ckpt");
    }

    @Test
    void anInvalidSpecStartsNothingAndSaysWhyUntilItIsFixed() {
        Jobs j = new Jobs(2);
        j.job.getSpec()
                .getTemplate()
                .getSpec()
                .setVolumes(
                        List.of(
                                new VolumeBuilder()
                                        .withName("ckpt")
                                        .withNewEmptyDir()
                                        .endEmptyDir()
                                        .build()));
        Decision d = j.decide();
        assertThat(d.actions()).isEmpty();
        assertThat(d.status().getPhase()).isEqualTo(Phase.Pending);
        assertThat(d.status().getAttempt()).isZero();
        var c = Conditions.find(d.status(), Conditions.SPEC_VALID).orElseThrow();
        assertThat(c.isTrue()).isFalse();
        assertThat(c.getMessage()).contains("emptyDir");
        assertThat(d.events()).extracting(JobEvent::reason).containsExactly("InvalidSpec");
        assertThat(j.decide().events()).as("the same problem is announced once").isEmpty();

        j.job.getSpec()
                .getTemplate()
                .getSpec()
                .setVolumes(
                        List.of(
                                new VolumeBuilder()
                                        .withName("ckpt")
                                        .withNewPersistentVolumeClaim()
                                        .withClaimName("ckpt")
                                        .endPersistentVolumeClaim()
                                        .build()));
        Decision fixed = j.decide();
        assertThat(Jobs.create(fixed).attempt()).isEqualTo(1);
        assertThat(Conditions.find(fixed.status(), Conditions.SPEC_VALID).orElseThrow().isTrue())
                .isTrue();
    }
}
