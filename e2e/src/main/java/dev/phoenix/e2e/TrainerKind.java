package dev.phoenix.e2e;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Which trainer a job of the e2e suite runs: Phoenix's ND4J reference trainer (a JVM) or the
 * PyTorch example trainer of phoenix-torch ({@code python -m phoenix_torch.examples.mlp}). Both
 * take the same model flags ({@link JobConfig#trainerArgs()}) and speak the same pod contract, so
 * one test body can run either; their states differ, so a reference run is per kind.
 */
public enum TrainerKind {
    ND4J(PhoenixStack.TRAINER_IMAGE, List.of()),
    TORCH(
            PhoenixStack.TORCH_IMAGE,
            List.of("/opt/python/bin/python3", "-m", "phoenix_torch.examples.mlp"));

    private final String image;
    private final List<String> command;

    TrainerKind(String image, List<String> command) {
        this.image = image;
        this.command = command;
    }

    public String image() {
        return image;
    }

    /** The container's command; empty: the image's entrypoint. */
    public List<String> command() {
        return command;
    }

    /** Environment the container needs beyond the pod contract. */
    public Map<String, String> env() {
        return this == ND4J
                ? Map.of(
                        "OMP_NUM_THREADS", "1",
                        "OPENBLAS_CORETYPE", "Haswell",
                        // small, quickly started JVMs: many trainers share two cores here
                        "JAVA_TOOL_OPTIONS", Repo.SMALL_JVM_OPTS)
                : Map.of("OMP_NUM_THREADS", "1");
    }

    /** Where the container needs a writable directory on a read-only root filesystem. */
    public Map<String, String> scratchMounts() {
        return this == ND4J
                ? Map.of("javacpp", "/var/cache/javacpp", "tmp", "/tmp")
                : Map.of("tmp", "/tmp");
    }

    /**
     * The command of one rank of the uninterrupted reference run, outside Kubernetes: the same
     * program, flags and world size; {@code env} receives what that rank's environment needs.
     */
    List<String> referenceCommand(
            JobConfig cfg, int rank, int port, Path dir, Map<String, String> env)
            throws IOException {
        List<String> cmd = new ArrayList<>();
        if (this == ND4J) {
            cmd.addAll(
                    dev.phoenix.local.process.ManagedProcess.javaCommand(
                            List.of(Repo.SMALL_JVM_OPTS.split(" ")),
                            Repo.trainerClasspath(),
                            "dev.phoenix.trainer.Main"));
            cmd.addAll(cfg.modelArgs());
            cmd.addAll(
                    List.of(
                            "--rank", Integer.toString(rank),
                            "--world-size", Integer.toString(cfg.replicas()),
                            "--master-addr", "127.0.0.1",
                            "--master-port", Integer.toString(port),
                            "--checkpoint-dir", dir.resolve("checkpoints").toString(),
                            "--checkpoint-interval", Integer.toString(cfg.intervalSteps()),
                            "--checkpoint-keep", Integer.toString(cfg.keepLatest()),
                            "--termination-log", dir.resolve("termination-" + rank).toString(),
                            "--job-name", "reference",
                            "--pod-name", "reference-" + rank));
            env.put("OPENBLAS_CORETYPE", "Haswell");
        } else {
            cmd.addAll(List.of(Repo.torchPython().toString(), "-m", "phoenix_torch.examples.mlp"));
            cmd.addAll(cfg.modelArgs());
            // phoenix-torch reads the contract from the environment only (PyTorch's own names for
            // the gang); no PHOENIX_REPORT_CONFIGMAP, so it reports to nobody.
            env.put("RANK", Integer.toString(rank));
            env.put("WORLD_SIZE", Integer.toString(cfg.replicas()));
            env.put("MASTER_ADDR", "127.0.0.1");
            env.put("MASTER_PORT", Integer.toString(port));
            env.put("PHOENIX_CHECKPOINT_DIR", dir.resolve("checkpoints").toString());
            env.put("PHOENIX_CHECKPOINT_INTERVAL", Integer.toString(cfg.intervalSteps()));
            env.put("PHOENIX_CHECKPOINT_KEEP", Integer.toString(cfg.keepLatest()));
            env.put("PHOENIX_TERMINATION_LOG", dir.resolve("termination-" + rank).toString());
            env.put("PHOENIX_POD_NAME", "reference-" + rank);
        }
        env.put("OMP_NUM_THREADS", "1");
        return cmd;
    }
}
