package dev.phoenix.operator;

import dev.phoenix.api.v1alpha1.TrainingJob;

/** Every name of the pod contract (docs/design.md, docs/contract.md) in one place. */
public final class Names {
    public static final String LABEL_JOB = "phoenix.dev/job";
    public static final String LABEL_RANK = "phoenix.dev/rank";
    public static final String LABEL_ATTEMPT = "phoenix.dev/attempt";
    public static final String ANNOTATION_TIMELINE = "phoenix.dev/timeline";
    public static final String ANNOTATION_RESUME_STEP = "phoenix.dev/resume-step";

    public static final String REPORT_KEY_CHECKPOINT = "checkpoint";
    public static final String REPORT_KEY_PROGRESS = "progress";
    public static final String REPORT_KEY_INVENTORY = "inventory";

    /** Trainer exit code: "the checkpoint I was told to resume from is missing or invalid". */
    public static final int EXIT_CHECKPOINT_INVALID = 65;

    public static final String ENV_JOB_NAME = "PHOENIX_JOB_NAME";
    public static final String ENV_NAMESPACE = "PHOENIX_NAMESPACE";
    public static final String ENV_POD_NAME = "PHOENIX_POD_NAME";
    public static final String ENV_ATTEMPT = "PHOENIX_ATTEMPT";
    public static final String ENV_RANK = "PHOENIX_RANK";
    public static final String ENV_WORLD_SIZE = "PHOENIX_WORLD_SIZE";
    public static final String ENV_CHECKPOINT_DIR = "PHOENIX_CHECKPOINT_DIR";
    public static final String ENV_CHECKPOINT_INTERVAL = "PHOENIX_CHECKPOINT_INTERVAL";
    public static final String ENV_CHECKPOINT_KEEP = "PHOENIX_CHECKPOINT_KEEP";
    public static final String ENV_RESUME_STEP = "PHOENIX_RESUME_STEP";
    public static final String ENV_RESUME_EXACT = "PHOENIX_RESUME_EXACT";
    public static final String ENV_REPORT_CONFIGMAP = "PHOENIX_REPORT_CONFIGMAP";
    public static final String ENV_TIMELINE = "PHOENIX_TIMELINE";
    public static final String ENV_GRACE_SECONDS = "PHOENIX_GRACE_SECONDS";
    public static final String ENV_JOB_UID = "PHOENIX_JOB_UID";

    /**
     * Read from the template (env value or a {@code --steps} argument) to reject unreachable steps
     * early.
     */
    public static final String ENV_TOTAL_STEPS = "PHOENIX_TOTAL_STEPS";

    private Names() {}

    public static String workerPod(String job, int rank) {
        return job + "-worker-" + rank;
    }

    public static String reportConfigMap(String job) {
        return job + "-report";
    }

    /** The headless Service that gives every worker a DNS name (&lt;pod&gt;.&lt;job&gt;). */
    public static String service(String job) {
        return job;
    }

    /** ServiceAccount, Role and RoleBinding that let the trainer report, and nothing else. */
    public static String trainerIdentity(String job) {
        return job + "-trainer";
    }

    public static String masterAddr(String job) {
        return workerPod(job, 0) + "." + service(job);
    }

    public static String describe(TrainingJob job) {
        return job.getMetadata().getNamespace() + "/" + job.getMetadata().getName();
    }
}
