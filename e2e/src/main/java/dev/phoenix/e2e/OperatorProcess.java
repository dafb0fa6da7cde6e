package dev.phoenix.e2e;

import java.io.IOException;
import java.net.HttpURLConnection;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The operator as a separate JVM ({@code dev.phoenix.operator.OperatorMain}), the way it runs in a cluster:
 * it can be killed with SIGKILL and started again, and nothing of it lives in the caller's JVM.
 */
public final class OperatorProcess implements AutoCloseable {
    private final Path kubeconfig;
    private final Path logFile;
    private final boolean leaderElection;
    private Process process;
    private int httpPort;
    private int starts;

    public OperatorProcess(Path kubeconfig, Path logFile, boolean leaderElection) {
        this.kubeconfig = kubeconfig;
        this.logFile = logFile;
        this.leaderElection = leaderElection;
    }

    /** Starts the process and waits until its {@code /readyz} answers 200. */
    public synchronized OperatorProcess start() throws IOException {
        if (process != null && process.isAlive()) {
            throw new IllegalStateException("operator already running (pid " + process.pid() + ")");
        }
        httpPort = freePort();
        List<String> cmd = new ArrayList<>();
        cmd.add(Repo.java());
        cmd.addAll(List.of(Repo.SMALL_JVM_OPTS.split(" ")));
        cmd.addAll(List.of("-cp", Repo.operatorClasspath(), "dev.phoenix.operator.OperatorMain"));
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.environment().put("KUBECONFIG", kubeconfig.toString());
        pb.environment().put("PHOENIX_LEADER_ELECTION", Boolean.toString(leaderElection));
        pb.environment().put("PHOENIX_LEASE_NAMESPACE", "default");
        pb.environment().put("PHOENIX_HTTP_PORT", Integer.toString(httpPort));
        pb.environment().put("PHOENIX_NAMESPACES", "");
        Files.createDirectories(logFile.getParent());
        Files.writeString(logFile, "---- operator start " + (starts + 1) + " ----\n",
                java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.APPEND);
        pb.redirectErrorStream(true);
        pb.redirectOutput(ProcessBuilder.Redirect.appendTo(logFile.toFile()));
        process = pb.start();
        starts++;
        awaitReady(Duration.ofSeconds(leaderElection ? 90 : 60));
        return this;
    }

    private void awaitReady(Duration timeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            if (!process.isAlive()) {
                throw new IOException("operator exited with " + process.exitValue() + " before it was ready; log: " + logFile
                        + "\n" + tail());
            }
            try {
                HttpURLConnection c = (HttpURLConnection) URI.create("http://127.0.0.1:" + httpPort + "/readyz").toURL().openConnection();
                c.setConnectTimeout(500);
                c.setReadTimeout(1000);
                if (c.getResponseCode() == 200) {
                    return;
                }
            } catch (IOException notYet) {
                // not listening yet
            }
            sleep(250);
        }
        throw new IOException("operator not ready after " + timeout + "; log: " + logFile + "\n" + tail());
    }

    /** SIGKILL, as a node or OOM killer would: no shutdown hook runs. */
    public synchronized void kill() throws InterruptedException {
        if (process != null && process.isAlive()) {
            process.destroyForcibly();
            process.waitFor(30, TimeUnit.SECONDS);
        }
    }

    /** kill -9, then a fresh start. */
    public synchronized void restart() throws IOException, InterruptedException {
        kill();
        start();
    }

    public synchronized boolean isAlive() {
        return process != null && process.isAlive();
    }

    public synchronized long pid() {
        return process == null ? -1 : process.pid();
    }

    public int httpPort() {
        return httpPort;
    }

    public int starts() {
        return starts;
    }

    public Path logFile() {
        return logFile;
    }

    /** The last lines of the operator's log. */
    public String tail() {
        try {
            List<String> lines = Files.readAllLines(logFile);
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
        } catch (IOException e) {
            return "(no log: " + e.getMessage() + ")";
        }
    }

    /** SIGTERM (graceful), SIGKILL after 10 s. */
    @Override
    public synchronized void close() {
        if (process != null && process.isAlive()) {
            process.destroy();
            try {
                if (!process.waitFor(10, TimeUnit.SECONDS)) {
                    process.destroyForcibly();
                    process.waitFor(10, TimeUnit.SECONDS);
                }
            } catch (InterruptedException e) {
                process.destroyForcibly();
                Thread.currentThread().interrupt();
            }
        }
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new RuntimeException(e);
        }
    }
}
