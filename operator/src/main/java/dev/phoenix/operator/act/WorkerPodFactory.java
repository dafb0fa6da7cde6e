package dev.phoenix.operator.act;

import dev.phoenix.api.v1alpha1.TrainingJob;
import dev.phoenix.api.v1alpha1.TrainingJobSpec;
import dev.phoenix.operator.Names;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.EnvVarBuilder;
import io.fabric8.kubernetes.api.model.ObjectMeta;
import io.fabric8.kubernetes.api.model.OwnerReference;
import io.fabric8.kubernetes.api.model.OwnerReferenceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.PodTemplateSpec;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * Builds worker pods from the user's template plus the pod contract of docs/design.md. Every rank
 * of one attempt gets the same resume step and timeline: the operator alone decides where a gang
 * resumes.
 */
public final class WorkerPodFactory {
    private static final KubernetesSerialization SERIALIZATION = new KubernetesSerialization();
    static final long DEFAULT_GRACE_SECONDS = 30;

    private WorkerPodFactory() {}

    /**
     * {@code exact}: PHOENIX_RESUME_EXACT, whether the trainer must load exactly {@code resumeStep}
     * ({@link dev.phoenix.operator.resume.ResumePlan#exact()}).
     */
    public static Pod build(
            TrainingJob job,
            int rank,
            int attempt,
            long resumeStep,
            boolean exact,
            String timeline) {
        TrainingJobSpec spec = job.getSpec();
        String jobName = job.getMetadata().getName();
        PodTemplateSpec template = SERIALIZATION.clone(spec.getTemplate());
        ObjectMeta meta =
                template.getMetadata() == null ? new ObjectMeta() : template.getMetadata();
        PodSpec podSpec = template.getSpec();

        String podName = Names.workerPod(jobName, rank);
        Map<String, String> labels =
                new LinkedHashMap<>(meta.getLabels() == null ? Map.of() : meta.getLabels());
        labels.put(Names.LABEL_JOB, jobName);
        labels.put(Names.LABEL_RANK, Integer.toString(rank));
        labels.put(Names.LABEL_ATTEMPT, Integer.toString(attempt));
        Map<String, String> annotations =
                new LinkedHashMap<>(
                        meta.getAnnotations() == null ? Map.of() : meta.getAnnotations());
        annotations.put(Names.ANNOTATION_TIMELINE, timeline);
        annotations.put(Names.ANNOTATION_RESUME_STEP, wire(resumeStep));

        ObjectMeta podMeta = new ObjectMeta();
        podMeta.setName(podName);
        podMeta.setNamespace(job.getMetadata().getNamespace());
        podMeta.setLabels(labels);
        podMeta.setAnnotations(annotations);
        podMeta.setOwnerReferences(List.of(ownerReference(job)));

        // The gang restarts as a whole; a container restarted in place would leave ranks on
        // different steps.
        podSpec.setRestartPolicy("Never");
        podSpec.setHostname(podName);
        podSpec.setSubdomain(Names.service(jobName));
        if (podSpec.getServiceAccountName() == null) {
            podSpec.setServiceAccountName(Names.trainerIdentity(jobName));
        }
        long grace =
                podSpec.getTerminationGracePeriodSeconds() == null
                        ? DEFAULT_GRACE_SECONDS
                        : podSpec.getTerminationGracePeriodSeconds();

        List<EnvVar> contract = contractEnv(job, rank, attempt, resumeStep, exact, timeline, grace);
        for (Container c : podSpec.getContainers()) {
            c.setEnv(withContract(c.getEnv(), contract));
        }
        if (podSpec.getInitContainers() != null) {
            for (Container c : podSpec.getInitContainers()) {
                c.setEnv(withContract(c.getEnv(), contract));
            }
        }
        Pod pod = new Pod();
        pod.setMetadata(podMeta);
        pod.setSpec(podSpec);
        return pod;
    }

    static List<EnvVar> contractEnv(
            TrainingJob job,
            int rank,
            int attempt,
            long resumeStep,
            boolean exact,
            String timeline,
            long graceSeconds) {
        TrainingJobSpec spec = job.getSpec();
        String jobName = job.getMetadata().getName();
        Map<String, String> plain = new LinkedHashMap<>();
        plain.put(Names.ENV_JOB_NAME, jobName);
        plain.put(Names.ENV_NAMESPACE, job.getMetadata().getNamespace());
        plain.put(Names.ENV_ATTEMPT, Integer.toString(attempt));
        plain.put(Names.ENV_RANK, Integer.toString(rank));
        plain.put(Names.ENV_WORLD_SIZE, Integer.toString(spec.replicasOrDefault()));
        plain.put("RANK", Integer.toString(rank));
        plain.put("WORLD_SIZE", Integer.toString(spec.replicasOrDefault()));
        plain.put("MASTER_ADDR", Names.masterAddr(jobName));
        plain.put("MASTER_PORT", Integer.toString(spec.masterPortOrDefault()));
        plain.put(Names.ENV_CHECKPOINT_DIR, spec.getCheckpoint().getPath());
        plain.put(
                Names.ENV_CHECKPOINT_INTERVAL,
                String.valueOf(
                        spec.getCheckpoint().getIntervalSteps() == null
                                ? 100
                                : spec.getCheckpoint().getIntervalSteps()));
        plain.put(
                Names.ENV_CHECKPOINT_KEEP,
                String.valueOf(
                        spec.getCheckpoint().getKeepLatest() == null
                                ? 3
                                : spec.getCheckpoint().getKeepLatest()));
        plain.put(Names.ENV_RESUME_STEP, wire(resumeStep));
        plain.put(Names.ENV_RESUME_EXACT, Boolean.toString(exact));
        plain.put(
                Names.ENV_JOB_UID,
                job.getMetadata().getUid() == null ? "" : job.getMetadata().getUid());
        plain.put(Names.ENV_TIMELINE, timeline);
        plain.put(Names.ENV_REPORT_CONFIGMAP, Names.reportConfigMap(jobName));
        plain.put(Names.ENV_GRACE_SECONDS, Long.toString(graceSeconds));

        List<EnvVar> env = new ArrayList<>();
        env.add(
                new EnvVarBuilder()
                        .withName(Names.ENV_POD_NAME)
                        .withNewValueFrom()
                        .withNewFieldRef()
                        .withFieldPath("metadata.name")
                        .endFieldRef()
                        .endValueFrom()
                        .build());
        plain.forEach((k, v) -> env.add(new EnvVar(k, v, null)));
        return env;
    }

    /**
     * The contract variables come first so the user's own variables can refer to them with $(NAME);
     * a user variable of the same name is dropped, because the operator alone decides rank and
     * resume step.
     */
    static List<EnvVar> withContract(List<EnvVar> userEnv, List<EnvVar> contract) {
        Set<String> reserved = contract.stream().map(EnvVar::getName).collect(Collectors.toSet());
        List<EnvVar> env = new ArrayList<>(contract);
        if (userEnv != null) {
            userEnv.stream().filter(e -> !reserved.contains(e.getName())).forEach(env::add);
        }
        return env;
    }

    static OwnerReference ownerReference(TrainingJob job) {
        return new OwnerReferenceBuilder()
                .withApiVersion(job.getApiVersion())
                .withKind(job.getKind())
                .withName(job.getMetadata().getName())
                .withUid(job.getMetadata().getUid())
                .withController(true)
                .withBlockOwnerDeletion(true)
                .build();
    }

    /**
     * PHOENIX_RESUME_STEP on the wire: {@code -1} for a fresh start (the contract), the step
     * otherwise. The only place that turns "from scratch" (step 0 everywhere else) into {@code -1}.
     */
    static String wire(long resumeStep) {
        return resumeStep <= 0 ? "-1" : Long.toString(resumeStep);
    }

    /** Labels selecting every worker of a job (of all attempts). */
    public static Map<String, String> selector(String jobName) {
        Map<String, String> m = new HashMap<>();
        m.put(Names.LABEL_JOB, jobName);
        return m;
    }
}
