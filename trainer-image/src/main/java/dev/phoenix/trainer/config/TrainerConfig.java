package dev.phoenix.trainer.config;

import dev.phoenix.trainer.model.ModelSpec;
import java.nio.file.Path;
import java.util.Map;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Trainer configuration: every setting is a flag, and most can also come from the pod contract's
 * environment (shown as "env: …" in {@code --help}). Flags win over the environment.
 */
@Command(
        name = "phoenix-trainer",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        version = "phoenix-trainer 0.1.0",
        description =
                "Reference ND4J trainer for Phoenix: trains an MLP on deterministic synthetic data and "
                        + "resumes bit-exactly from full-state checkpoints.%n",
        footer = {
            "%nExit codes: 0 done, 65 resume checkpoint missing or invalid, 143 stopped by SIGTERM "
                    + "(or --stop-at-step), 1 any other failure, 2 bad usage."
        })
public final class TrainerConfig {

    // --- identity (pod contract) ---
    @Option(
            names = "--job-name",
            descriptionKey = "PHOENIX_JOB_NAME",
            defaultValue = "local",
            description = "Job name (env: PHOENIX_JOB_NAME).")
    public String jobName;

    @Option(
            names = "--namespace",
            descriptionKey = "PHOENIX_NAMESPACE",
            defaultValue = "default",
            description = "Namespace of the job and its report ConfigMap (env: PHOENIX_NAMESPACE).")
    public String namespace;

    @Option(
            names = "--job-uid",
            descriptionKey = "PHOENIX_JOB_UID",
            defaultValue = "",
            description =
                    "UID of the TrainingJob (env: PHOENIX_JOB_UID); written into every manifest, and a checkpoint "
                            + "directory holding another job's checkpoints is refused (exit 65). Empty = no ownership check.")
    public String jobUid;

    @Option(
            names = "--pod-name",
            descriptionKey = "PHOENIX_POD_NAME,HOSTNAME",
            defaultValue = "local",
            description = "Pod name (env: PHOENIX_POD_NAME, HOSTNAME).")
    public String podName;

    @Option(
            names = "--attempt",
            descriptionKey = "PHOENIX_ATTEMPT",
            defaultValue = "1",
            description = "Attempt number of this gang start (env: PHOENIX_ATTEMPT).")
    public int attempt;

    @Option(
            names = "--timeline",
            descriptionKey = "PHOENIX_TIMELINE",
            defaultValue = "t1",
            description = "Timeline id written into manifests and reports (env: PHOENIX_TIMELINE).")
    public String timeline;

    // --- gang ---
    @Option(
            names = "--rank",
            descriptionKey = "PHOENIX_RANK,RANK",
            defaultValue = "0",
            description = "Rank in the gang (env: PHOENIX_RANK, RANK).")
    public int rank;

    @Option(
            names = "--world-size",
            descriptionKey = "PHOENIX_WORLD_SIZE,WORLD_SIZE",
            defaultValue = "1",
            description = "Number of ranks (env: PHOENIX_WORLD_SIZE, WORLD_SIZE).")
    public int worldSize;

    @Option(
            names = "--master-addr",
            descriptionKey = "MASTER_ADDR",
            defaultValue = "127.0.0.1",
            description =
                    "Address of rank 0; rank 0 listens on the address it resolves to (env: MASTER_ADDR).")
    public String masterAddr;

    @Option(
            names = "--master-port",
            descriptionKey = "MASTER_PORT",
            defaultValue = "29500",
            description = "Port of rank 0 (env: MASTER_PORT).")
    public int masterPort;

    @Option(
            names = "--rendezvous-timeout-seconds",
            descriptionKey = "PHOENIX_RENDEZVOUS_TIMEOUT_SECONDS",
            defaultValue = "300",
            description = "How long ranks wait for each other at start.")
    public int rendezvousTimeoutSeconds;

    @Option(
            names = "--collective-timeout-seconds",
            descriptionKey = "PHOENIX_COLLECTIVE_TIMEOUT_SECONDS",
            defaultValue = "600",
            description =
                    "How long a rank waits for a gradient exchange (covers rank 0's checkpoint saves).")
    public int collectiveTimeoutSeconds;

    // --- checkpoints ---
    @Option(
            names = "--checkpoint-dir",
            descriptionKey = "PHOENIX_CHECKPOINT_DIR",
            defaultValue = "checkpoints",
            description = "Checkpoint directory (env: PHOENIX_CHECKPOINT_DIR).")
    public Path checkpointDir;

    @Option(
            names = "--checkpoint-interval",
            descriptionKey = "PHOENIX_CHECKPOINT_INTERVAL",
            defaultValue = "100",
            description =
                    "Save every N steps (env: PHOENIX_CHECKPOINT_INTERVAL); 0 = only final/emergency.")
    public long checkpointInterval;

    @Option(
            names = "--checkpoint-keep",
            descriptionKey = "PHOENIX_CHECKPOINT_KEEP",
            defaultValue = "3",
            description =
                    "Keep the newest N checkpoints (env: PHOENIX_CHECKPOINT_KEEP); 0 = keep all.")
    public int checkpointKeep;

    @Option(
            names = "--resume-step",
            descriptionKey = "PHOENIX_RESUME_STEP",
            defaultValue = "-1",
            description =
                    "Resume from exactly this step; -1 or 0 = fresh start (env: PHOENIX_RESUME_STEP).")
    public long resumeStep;

    @Option(
            names = "--resume-exact",
            descriptionKey = "PHOENIX_RESUME_EXACT",
            defaultValue = "true",
            arity = "1",
            description =
                    "true: load exactly --resume-step and move newer step directories aside (a"
                            + " pinned step, a fallback after an invalid checkpoint). false: the"
                            + " step is the newest Phoenix knows of; rank 0 resumes from a newer"
                            + " committed, verified checkpoint of the same timeline if the disk"
                            + " holds one (its report had not arrived yet) instead of moving it"
                            + " aside (env: PHOENIX_RESUME_EXACT).")
    public boolean resumeExact;

    // --- reporting / termination ---
    @Option(
            names = "--report-configmap",
            descriptionKey = "PHOENIX_REPORT_CONFIGMAP",
            description =
                    "ConfigMap to report into (env: PHOENIX_REPORT_CONFIGMAP); unset = no reporting.")
    public String reportConfigMap;

    @Option(
            names = "--progress-interval-seconds",
            descriptionKey = "PHOENIX_PROGRESS_INTERVAL_SECONDS",
            defaultValue = "5",
            description = "Minimum seconds between progress reports.")
    public double progressIntervalSeconds;

    @Option(
            names = "--termination-log",
            descriptionKey = "PHOENIX_TERMINATION_LOG",
            defaultValue = "/dev/termination-log",
            description = "Where the termination message goes (env: PHOENIX_TERMINATION_LOG).")
    public Path terminationLog;

    @Option(
            names = "--grace-seconds",
            descriptionKey = "PHOENIX_GRACE_SECONDS",
            defaultValue = "30",
            description = "Termination grace period after SIGTERM (env: PHOENIX_GRACE_SECONDS).")
    public double graceSeconds;

    // --- training ---
    @Option(
            names = "--steps",
            descriptionKey = "PHOENIX_TOTAL_STEPS",
            defaultValue = "1000",
            description = "Total optimizer steps (env: PHOENIX_TOTAL_STEPS).")
    public long steps;

    @Option(names = "--input", defaultValue = "64", description = "Input features.")
    public int input;

    @Option(names = "--hidden", defaultValue = "256", description = "Hidden width.")
    public int hidden;

    @Option(names = "--layers", defaultValue = "2", description = "Number of hidden layers.")
    public int layers;

    @Option(names = "--classes", defaultValue = "10", description = "Number of classes.")
    public int classes;

    @Option(
            names = "--batch",
            defaultValue = "128",
            description = "Global batch size (split across ranks).")
    public int batch;

    @Option(
            names = "--seed",
            descriptionKey = "PHOENIX_SEED",
            defaultValue = "42",
            description = "Seed of data and initialisation.")
    public long seed;

    @Option(names = "--lr", defaultValue = "0.003", description = "Peak learning rate.")
    public double lr;

    @Option(
            names = "--min-lr",
            defaultValue = "0.0003",
            description = "Final learning rate of the cosine decay.")
    public double minLr;

    @Option(names = "--warmup-steps", defaultValue = "20", description = "Linear warm-up steps.")
    public long warmupSteps;

    @Option(
            names = "--weight-decay",
            defaultValue = "0.01",
            description = "AdamW decoupled weight decay (weights only).")
    public double weightDecay;

    @Option(names = "--beta1", defaultValue = "0.9", description = "Adam beta1.")
    public double beta1;

    @Option(names = "--beta2", defaultValue = "0.999", description = "Adam beta2.")
    public double beta2;

    @Option(names = "--eps", defaultValue = "1e-8", description = "Adam epsilon.")
    public double eps;

    // --- logging / testing ---
    @Option(
            names = "--log-interval-seconds",
            defaultValue = "5",
            description = "Seconds between progress log lines.")
    public double logIntervalSeconds;

    @Option(
            names = "--step-sleep-ms",
            descriptionKey = "PHOENIX_STEP_SLEEP_MS",
            defaultValue = "0",
            description =
                    "Sleep after each step (slows a demo or test run down; not part of the state).")
    public long stepSleepMs;

    @Option(
            names = "--stop-at-step",
            defaultValue = "-1",
            description =
                    "Behave as if SIGTERM arrived during this step (for tests): checkpoint, exit 143.")
    public long stopAtStep;

    public ModelSpec modelSpec() {
        return new ModelSpec(input, hidden, layers, classes);
    }

    /** {@code namespace/name} of the job, as written into manifests. */
    public String jobRef() {
        return namespace + "/" + jobName;
    }

    public boolean resuming() {
        return resumeStep > 0;
    }

    public void validate() {
        require(worldSize >= 1, "--world-size must be >= 1");
        require(rank >= 0 && rank < worldSize, "--rank must be in [0, world size)");
        require(batch >= worldSize, "--batch must be at least the world size");
        require(steps >= 1, "--steps must be >= 1");
        require(checkpointInterval >= 0, "--checkpoint-interval must be >= 0");
        require(checkpointKeep >= 0, "--checkpoint-keep must be >= 0");
        // A resume step beyond --steps is the operator's (or user's) value, not bad usage: the
        // trainer
        // refuses it like any checkpoint it cannot resume from (exit 65), see Trainer.
        require(timeline.matches("[A-Za-z0-9._-]+"), "--timeline must match [A-Za-z0-9._-]+");
        modelSpec();
    }

    private static void require(boolean ok, String message) {
        if (!ok) {
            throw new IllegalArgumentException(message);
        }
    }

    /** Rows of the global batch this rank computes: [from, to). */
    public int shardFrom() {
        return (int) ((long) batch * rank / worldSize);
    }

    public int shardTo() {
        return (int) ((long) batch * (rank + 1) / worldSize);
    }

    public static CommandLine commandLine(TrainerConfig config, Map<String, String> env) {
        CommandLine cl = new CommandLine(config);
        cl.setDefaultValueProvider(new EnvDefaults(env));
        cl.setOverwrittenOptionsAllowed(
                true); // a later flag wins, so args can be appended to a command
        return cl;
    }

    /**
     * Parses flags over the given environment; throws {@link CommandLine.ParameterException} on bad
     * input.
     */
    public static TrainerConfig parse(Map<String, String> env, String... args) {
        TrainerConfig c = new TrainerConfig();
        commandLine(c, env).parseArgs(args);
        return c;
    }
}
