package dev.phoenix.local.process;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.HttpURLConnection;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * A child process whose output goes to a log file: the control plane's components, and the operator
 * run as its own JVM by the install tests, the e2e stack and the local run. One place knows how
 * such a process is started (stdin from /dev/null, stderr into the log), stopped (SIGTERM, grace,
 * SIGKILL), killed like a node loss would (SIGKILL, no shutdown hook) and waited on until an HTTP
 * endpoint answers.
 */
public final class ManagedProcess implements AutoCloseable {
    private final String name;
    private final Path logFile;
    private final Process process;

    private ManagedProcess(String name, Path logFile, Process process) {
        this.name = name;
        this.logFile = logFile;
        this.process = process;
    }

    public static Builder builder(String name, List<String> command) {
        return new Builder(name, command);
    }

    /** {@code java <jvmOptions> -cp <classpath> <mainClass> <args>} with this JVM's launcher. */
    public static List<String> javaCommand(
            List<String> jvmOptions, String classpath, String mainClass, String... args) {
        List<String> cmd = new ArrayList<>();
        cmd.add(java());
        cmd.addAll(jvmOptions);
        cmd.addAll(List.of("-cp", classpath, mainClass));
        cmd.addAll(List.of(args));
        return cmd;
    }

    /** The java launcher of this JVM. */
    private static String java() {
        Path j = Path.of(System.getProperty("java.home"), "bin", "java");
        return Files.isExecutable(j) ? j.toString() : "java";
    }

    /** A free TCP port on loopback (free now; the caller binds it soon after). */
    public static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            s.setReuseAddress(true);
            return s.getLocalPort();
        }
    }

    public static final class Builder {
        private final String name;
        private final List<String> command;
        private Path workDir;
        private Path logFile;
        private boolean appendLog;
        private Consumer<Map<String, String>> environment = env -> {};

        private Builder(String name, List<String> command) {
            this.name = name;
            this.command = List.copyOf(command);
        }

        public Builder workDir(Path dir) {
            this.workDir = dir;
            return this;
        }

        public Builder logFile(Path file) {
            this.logFile = file;
            return this;
        }

        /**
         * Append to the log (a process restarted under the same log) instead of starting it afresh.
         */
        public Builder appendLog(boolean append) {
            this.appendLog = append;
            return this;
        }

        /** Edits the environment inherited from this JVM. */
        public Builder environment(Consumer<Map<String, String>> edit) {
            this.environment = this.environment.andThen(edit);
            return this;
        }

        public ManagedProcess start() throws IOException {
            if (logFile == null) {
                throw new IllegalStateException(name + ": no log file");
            }
            Files.createDirectories(logFile.toAbsolutePath().getParent());
            // The first line says what ran, so a log read alone still explains itself.
            Files.writeString(
                    logFile,
                    "# " + String.join(" ", command) + System.lineSeparator(),
                    StandardCharsets.UTF_8,
                    StandardOpenOption.CREATE,
                    StandardOpenOption.WRITE,
                    appendLog ? StandardOpenOption.APPEND : StandardOpenOption.TRUNCATE_EXISTING);
            ProcessBuilder pb =
                    new ProcessBuilder(command)
                            .redirectErrorStream(true)
                            .redirectOutput(ProcessBuilder.Redirect.appendTo(logFile.toFile()))
                            .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
            if (workDir != null) {
                pb.directory(workDir.toFile());
            }
            environment.accept(pb.environment());
            return new ManagedProcess(name, logFile, pb.start());
        }
    }

    public String name() {
        return name;
    }

    public Path logFile() {
        return logFile;
    }

    public long pid() {
        return process.pid();
    }

    public boolean isAlive() {
        return process.isAlive();
    }

    /** SIGTERM, as the kubelet sends; true when the process exited within {@code within}. */
    public boolean terminate(Duration within) throws InterruptedException {
        process.destroy();
        return process.waitFor(within.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** SIGKILL, as a node loss or the OOM killer: no shutdown hook runs. Waits until it is gone. */
    public void kill() throws InterruptedException {
        if (process.isAlive()) {
            process.destroyForcibly();
            process.waitFor(30, TimeUnit.SECONDS);
        }
    }

    /** SIGTERM, wait up to {@code graceMillis}, then SIGKILL. */
    public void stop(long graceMillis) {
        if (!process.isAlive()) {
            return;
        }
        try {
            if (!terminate(Duration.ofMillis(graceMillis))) {
                process.destroyForcibly();
                process.waitFor(5, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
    }

    /** Stops it with a 10 s grace period. */
    @Override
    public void close() {
        stop(10_000);
    }

    /** The status code of {@code GET http://127.0.0.1:<port><path>}, or -1 when nothing answers. */
    public static int httpGet(int port, String path) {
        try {
            HttpURLConnection c =
                    (HttpURLConnection)
                            URI.create("http://127.0.0.1:" + port + path).toURL().openConnection();
            c.setConnectTimeout(1000);
            c.setReadTimeout(5000);
            try {
                return c.getResponseCode();
            } finally {
                c.disconnect();
            }
        } catch (IOException e) {
            return -1;
        }
    }

    /**
     * Waits until {@code GET http://127.0.0.1:<port><path>} answers 200; fails at once with the
     * log's tail when the process exits first, and with it too when {@code timeout} passes.
     */
    public ManagedProcess awaitHttpOk(int port, String path, Duration timeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            if (!process.isAlive()) {
                throw new IOException(
                        name
                                + " exited with "
                                + process.exitValue()
                                + " before "
                                + path
                                + " answered; "
                                + describeForError());
            }
            if (httpGet(port, path) == 200) {
                return this;
            }
            try {
                Thread.sleep(250);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted while waiting for " + name, e);
            }
        }
        throw new IOException(
                name + ": " + path + " not 200 after " + timeout + "; " + describeForError());
    }

    /** The last {@code lines} lines of the log, for exception messages. */
    public String tail(int lines) {
        return tail(logFile, lines);
    }

    public static String tail(Path file, int lines) {
        if (!Files.isRegularFile(file)) {
            return "(no log " + file + ")";
        }
        Deque<String> last = new ArrayDeque<>();
        try (var reader = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            String line;
            while ((line = reader.readLine()) != null) {
                last.addLast(line.length() > 2000 ? line.substring(0, 2000) + "…" : line);
                if (last.size() > lines) {
                    last.removeFirst();
                }
            }
        } catch (IOException | UncheckedIOException e) {
            return "(cannot read " + file + ": " + e + ")";
        }
        return String.join(System.lineSeparator(), last);
    }

    public String describeForError() {
        return "---- "
                + name
                + (process.isAlive() ? " (running" : " (exited " + process.exitValue())
                + ", log "
                + logFile
                + ") last lines:"
                + System.lineSeparator()
                + tail(40);
    }
}
