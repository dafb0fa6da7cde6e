package dev.phoenix.operator.act;

import static org.assertj.core.api.Assertions.assertThat;

import dev.phoenix.api.v1alpha1.CheckpointSpec;
import dev.phoenix.api.v1alpha1.TrainingJob;
import dev.phoenix.api.v1alpha1.TrainingJobSpec;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodTemplateSpecBuilder;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

class WorkerPodFactoryTest {
    static TrainingJob job() {
        TrainingJob job = new TrainingJob();
        job.setMetadata(
                new ObjectMetaBuilder().withName("llm").withNamespace("ml").withUid("u1").build());
        TrainingJobSpec spec = new TrainingJobSpec();
        spec.setReplicas(2);
        CheckpointSpec c = new CheckpointSpec();
        c.setPath("/ckpt");
        c.setIntervalSteps(50);
        c.setKeepLatest(4);
        spec.setCheckpoint(c);
        spec.setTemplate(
                new PodTemplateSpecBuilder()
                        .withNewMetadata()
                        .addToLabels("team", "nlp")
                        .endMetadata()
                        .withNewSpec()
                        .withRestartPolicy("OnFailure")
                        .withTerminationGracePeriodSeconds(45L)
                        .addNewContainer()
                        .withName("trainer")
                        .withImage("phoenix/trainer:0.1.0")
                        .addNewEnv()
                        .withName("PHOENIX_RANK")
                        .withValue("7")
                        .endEnv()
                        .addNewEnv()
                        .withName("OUT")
                        .withValue("$(PHOENIX_CHECKPOINT_DIR)/out")
                        .endEnv()
                        .endContainer()
                        .endSpec()
                        .build());
        job.setSpec(spec);
        return job;
    }

    @Test
    void podCarriesTheWholeContractAndTheUserCannotOverrideRank() {
        Pod pod = WorkerPodFactory.build(job(), 1, 3, 40, true, "t2");
        assertThat(pod.getMetadata().getName()).isEqualTo("llm-worker-1");
        assertThat(pod.getMetadata().getLabels())
                .containsEntry("phoenix.dev/job", "llm")
                .containsEntry("phoenix.dev/rank", "1")
                .containsEntry("phoenix.dev/attempt", "3")
                .containsEntry("team", "nlp");
        assertThat(pod.getMetadata().getOwnerReferences())
                .singleElement()
                .satisfies(o -> assertThat(o.getController()).isTrue());
        assertThat(pod.getSpec().getRestartPolicy()).isEqualTo("Never");
        assertThat(pod.getSpec().getHostname()).isEqualTo("llm-worker-1");
        assertThat(pod.getSpec().getSubdomain()).isEqualTo("llm");
        assertThat(pod.getSpec().getServiceAccountName()).isEqualTo("llm-trainer");
        Map<String, String> env =
                pod.getSpec().getContainers().get(0).getEnv().stream()
                        .filter(e -> e.getValue() != null)
                        .collect(Collectors.toMap(EnvVar::getName, EnvVar::getValue));
        assertThat(env)
                .containsEntry("PHOENIX_RESUME_EXACT", "true")
                .containsEntry("PHOENIX_JOB_NAME", "llm")
                .containsEntry("PHOENIX_NAMESPACE", "ml")
                .containsEntry("PHOENIX_ATTEMPT", "3")
                .containsEntry("PHOENIX_RANK", "1")
                .containsEntry("PHOENIX_WORLD_SIZE", "2")
                .containsEntry("RANK", "1")
                .containsEntry("WORLD_SIZE", "2")
                .containsEntry("MASTER_ADDR", "llm-worker-0.llm")
                .containsEntry("MASTER_PORT", "29500")
                .containsEntry("PHOENIX_CHECKPOINT_DIR", "/ckpt")
                .containsEntry("PHOENIX_CHECKPOINT_INTERVAL", "50")
                .containsEntry("PHOENIX_CHECKPOINT_KEEP", "4")
                .containsEntry("PHOENIX_RESUME_STEP", "40")
                .containsEntry("PHOENIX_TIMELINE", "t2")
                .containsEntry("PHOENIX_REPORT_CONFIGMAP", "llm-report")
                .containsEntry("PHOENIX_GRACE_SECONDS", "45")
                .containsEntry("OUT", "$(PHOENIX_CHECKPOINT_DIR)/out");
        var podName =
                pod.getSpec().getContainers().get(0).getEnv().stream()
                        .filter(e -> e.getName().equals("PHOENIX_POD_NAME"))
                        .findFirst()
                        .orElseThrow();
        assertThat(podName.getValueFrom().getFieldRef().getFieldPath()).isEqualTo("metadata.name");
        // The user's variable that refers to a contract variable comes after it, so $(…) expands.
        var names =
                pod.getSpec().getContainers().get(0).getEnv().stream()
                        .map(EnvVar::getName)
                        .toList();
        assertThat(names.indexOf("OUT")).isGreaterThan(names.indexOf("PHOENIX_CHECKPOINT_DIR"));
        assertThat(names).containsOnlyOnce("PHOENIX_RANK");
    }

    @Test
    void everyRankOfAnAttemptGetsTheSameResumeStepAndTimeline() {
        for (int rank = 0; rank < 2; rank++) {
            Pod pod = WorkerPodFactory.build(job(), rank, 2, 40, true, "t1");
            assertThat(pod.getSpec().getContainers().get(0).getEnv())
                    .anySatisfy(
                            e -> {
                                assertThat(e.getName()).isEqualTo("PHOENIX_RESUME_STEP");
                                assertThat(e.getValue()).isEqualTo("40");
                            });
        }
    }

    @Test
    void theTemplateInTheJobIsNotModified() {
        TrainingJob job = job();
        WorkerPodFactory.build(job, 0, 1, -1, true, "t1");
        assertThat(job.getSpec().getTemplate().getSpec().getRestartPolicy()).isEqualTo("OnFailure");
        assertThat(job.getSpec().getTemplate().getSpec().getContainers().get(0).getEnv())
                .hasSize(2);
    }
}
