package dev.phoenix.trainer;

import com.fasterxml.jackson.databind.JsonNode;
import dev.phoenix.trainer.checkpoint.Json;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Runs {@code dev.phoenix.trainer.Main} in a fresh JVM with the test class path, a clean
 * environment (no PHOENIX_* from the caller) and OMP_NUM_THREADS / OPENBLAS_CORETYPE set
 * explicitly.
 */
final class TrainerProcess {
    static final String[] SMALL_MODEL = {
        "--input",
        "32",
        "--hidden",
        "64",
        "--layers",
        "2",
        "--classes",
        "10",
        "--batch",
        "32",
        "--log-interval-seconds",
        "1"
    };
    private static final AtomicInteger COUNTER = new AtomicInteger();

    final Process process;
    final Path logFile;
    final Path terminationLog;

    private TrainerProcess(Process process, Path logFile, Path terminationLog) {
        this.process = process;
        this.logFile = logFile;
        this.terminationLog = terminationLog;
    }

    static TrainerProcess start(Path workDir, Map<String, String> env, List<String> args)
            throws IOException {
        int n = COUNTER.incrementAndGet();
        Path log = workDir.resolve("trainer-" + n + ".log");
        Path term = workDir.resolve("termination-" + n + ".json");
        List<String> cmd =
                new ArrayList<>(
                        List.of(
                                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                                "-XX:TieredStopAtLevel=1",
                                "-XX:+UseSerialGC",
                                "-Xmx512m",
                                "-cp",
                                System.getProperty("java.class.path"),
                                "dev.phoenix.trainer.Main",
                                "--termination-log",
                                term.toString()));
        cmd.addAll(args);
        ProcessBuilder pb =
                new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
        Map<String, String> e = pb.environment();
        e.keySet()
                .removeIf(
                        k ->
                                k.startsWith("PHOENIX_")
                                        || k.equals("RANK")
                                        || k.equals("WORLD_SIZE")
                                        || k.startsWith("MASTER_")
                                        || k.equals("KUBECONFIG"));
        e.put("OMP_NUM_THREADS", System.getProperty("phoenix.test.ompThreads", "1"));
        e.put("OPENBLAS_CORETYPE", System.getProperty("phoenix.test.openblasCoretype", "Haswell"));
        e.putAll(env);
        return new TrainerProcess(pb.start(), log, term);
    }

    static Result run(Path workDir, String... args) throws Exception {
        return run(workDir, Map.of(), args);
    }

    static Result run(Path workDir, Map<String, String> env, String... args) throws Exception {
        return start(workDir, env, List.of(args)).await(240);
    }

    Result await(long seconds) throws Exception {
        if (!process.waitFor(seconds, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            throw new AssertionError("trainer did not finish in " + seconds + " s; log:\n" + log());
        }
        return new Result(process.exitValue(), termination(), log());
    }

    String log() throws IOException {
        return Files.exists(logFile) ? Files.readString(logFile) : "";
    }

    JsonNode termination() throws IOException {
        return Files.exists(terminationLog)
                ? Json.CANONICAL.readTree(terminationLog.toFile())
                : null;
    }

    /** Waits until the log contains the text. */
    void awaitLog(String text, long seconds) throws Exception {
        long deadline = System.nanoTime() + seconds * 1_000_000_000L;
        while (System.nanoTime() < deadline) {
            if (log().contains(text)) {
                return;
            }
            if (!process.isAlive()) {
                throw new AssertionError(
                        "trainer exited "
                                + process.exitValue()
                                + " before logging '"
                                + text
                                + "':\n"
                                + log());
            }
            Thread.sleep(100);
        }
        throw new AssertionError(
                "no '" + text + "' in the log within " + seconds + " s:\n" + log());
    }

    static String[] args(String[] base, String... more) {
        String[] out = new String[base.length + more.length];
        System.arraycopy(base, 0, out, 0, base.length);
        System.arraycopy(more, 0, out, base.length, more.length);
        return out;
    }

    record Result(int exitCode, JsonNode termination, String log) {
        String stateDigest() {
            return termination == null ? null : termination.path("stateDigest").asText(null);
        }

        String describe() {
            return "exit " + exitCode + ", termination " + termination + "\n" + log;
        }
    }

    static String path(File f) {
        return f.getAbsolutePath();
    }
}
