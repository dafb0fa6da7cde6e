package dev.phoenix.local.realnode;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Short-lived host commands (ip, ctr, crictl, mount helpers): output captured, failures explained.
 */
final class Commands {
    private Commands() {}

    record Result(int exitCode, String output) {
        boolean ok() {
            return exitCode == 0;
        }
    }

    /** Runs {@code cmd} (stdin /dev/null, stderr merged) for at most {@code timeoutSeconds}. */
    static Result run(long timeoutSeconds, List<String> cmd) throws IOException {
        Process p =
                new ProcessBuilder(cmd)
                        .redirectErrorStream(true)
                        .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                        .start();
        try {
            // Read on this thread: the commands here print little, and reading first never
            // deadlocks.
            byte[] out = p.getInputStream().readAllBytes();
            if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IOException(
                        "timed out after " + timeoutSeconds + "s: " + String.join(" ", cmd));
            }
            return new Result(p.exitValue(), new String(out, StandardCharsets.UTF_8));
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IOException("interrupted: " + String.join(" ", cmd), e);
        }
    }

    static Result run(List<String> cmd) throws IOException {
        return run(120, cmd);
    }

    /** Runs {@code cmd} and fails with its output unless it exits 0. */
    static String check(String... cmd) throws IOException {
        Result r = run(List.of(cmd));
        if (!r.ok()) {
            throw new IOException(
                    "`"
                            + String.join(" ", cmd)
                            + "` exited "
                            + r.exitCode()
                            + ": "
                            + r.output().strip());
        }
        return r.output();
    }

    /**
     * A /proc or /sys file's content, stripped. Not Files.readString: it sizes its read by the
     * file's length, which is 0 or 4096 for these files, and returned only the first byte of
     * kernel/keys/root_maxkeys here.
     */
    static String readKernelFile(java.nio.file.Path f) throws IOException {
        try (var in = java.nio.file.Files.newInputStream(f)) {
            return new String(in.readAllBytes(), StandardCharsets.US_ASCII).strip();
        }
    }

    static List<String> list(String first, List<String> rest) {
        List<String> all = new ArrayList<>();
        all.add(first);
        all.addAll(rest);
        return all;
    }
}
