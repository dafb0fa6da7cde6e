package dev.phoenix.e2e;

import com.fasterxml.jackson.databind.JsonNode;
import dev.phoenix.local.process.ManagedProcess;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The uninterrupted reference of a job: the same trainer, the same flags and world size, run
 * straight through as local processes (no Kubernetes, no preemption). Computed once per distinct
 * {@link JobConfig#stateKey()} and cached for the life of the JVM.
 */
public final class ReferenceRuns {
    private static final Logger LOG = LoggerFactory.getLogger(ReferenceRuns.class);
    private static final Map<String, CompletableFuture<String>> CACHE = new ConcurrentHashMap<>();

    private ReferenceRuns() {}

    /**
     * Starts (or joins) the reference run of {@code cfg}; the future yields its final stateDigest.
     */
    public static CompletableFuture<String> stateDigest(JobConfig cfg, Path scratch) {
        return stateDigest(TrainerKind.ND4J, cfg, scratch);
    }

    /** {@link #stateDigest(JobConfig, Path)} of the given trainer. */
    public static CompletableFuture<String> stateDigest(
            TrainerKind kind, JobConfig cfg, Path scratch) {
        return CACHE.computeIfAbsent(
                kind + " " + cfg.stateKey(),
                k ->
                        CompletableFuture.supplyAsync(
                                () -> {
                                    try {
                                        return run(
                                                kind,
                                                cfg,
                                                Files.createDirectories(scratch)
                                                        .resolve(
                                                                "ref-"
                                                                        + Integer.toHexString(
                                                                                k.hashCode())
                                                                        + "-"
                                                                        + System.nanoTime()));
                                    } catch (IOException | InterruptedException e) {
                                        throw new IllegalStateException(
                                                "reference run of " + k + " failed: " + e, e);
                                    }
                                }));
    }

    private static String run(TrainerKind kind, JobConfig cfg, Path dir)
            throws IOException, InterruptedException {
        long t0 = System.nanoTime();
        Files.createDirectories(dir);
        int port = ManagedProcess.freePort();
        List<Process> ranks = new ArrayList<>();
        for (int r = 0; r < cfg.replicas(); r++) {
            Map<String, String> env = new java.util.HashMap<>();
            List<String> cmd = kind.referenceCommand(cfg, r, port, dir, env);
            ProcessBuilder pb =
                    new ProcessBuilder(cmd)
                            .redirectErrorStream(true)
                            .redirectOutput(dir.resolve("rank-" + r + ".log").toFile());
            // Nothing of the pod contract but what the trainer kind sets: this run must not talk to
            // any cluster.
            pb.environment()
                    .keySet()
                    .removeIf(e -> e.startsWith("PHOENIX_") || e.equals("KUBECONFIG"));
            pb.environment().putAll(env);
            ranks.add(pb.start());
        }
        for (Process p : ranks) {
            if (!p.waitFor(10, TimeUnit.MINUTES)) {
                ranks.forEach(Process::destroyForcibly);
                throw new IOException("reference run timed out: " + dir);
            }
        }
        if (ranks.get(0).exitValue() != 0) {
            throw new IOException(
                    "reference rank 0 exited "
                            + ranks.get(0).exitValue()
                            + "; see "
                            + dir.resolve("rank-0.log"));
        }
        JsonNode m = TrainingJobs.json(Files.readString(dir.resolve("termination-0")));
        String digest = m.path("stateDigest").asText(null);
        if (digest == null) {
            throw new IOException("reference run wrote no stateDigest: " + m);
        }
        LOG.info(
                "reference [{} {}]: {} in {} s",
                kind,
                cfg.stateKey(),
                digest,
                TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - t0));
        return digest;
    }
}
