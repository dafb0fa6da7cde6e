package dev.phoenix.e2e;

import dev.phoenix.local.process.ManagedProcess;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * The operator as a separate JVM ({@code dev.phoenix.operator.OperatorMain}), the way it runs in a
 * cluster: it can be killed with SIGKILL and started again, and nothing of it lives in the caller's
 * JVM. Every start appends to the same log.
 */
public final class OperatorProcess implements AutoCloseable {
    private final Path kubeconfig;
    private final Path logFile;
    private final boolean leaderElection;
    private ManagedProcess process;
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
        httpPort = ManagedProcess.freePort();
        int port = httpPort;
        process =
                ManagedProcess.builder(
                                "operator (start " + (starts + 1) + ")",
                                ManagedProcess.javaCommand(
                                        List.of(Repo.SMALL_JVM_OPTS.split(" ")),
                                        Repo.operatorClasspath(),
                                        "dev.phoenix.operator.OperatorMain"))
                        .logFile(logFile)
                        .appendLog(starts > 0)
                        .environment(
                                env -> {
                                    env.put("KUBECONFIG", kubeconfig.toString());
                                    env.put(
                                            "PHOENIX_LEADER_ELECTION",
                                            Boolean.toString(leaderElection));
                                    env.put("PHOENIX_LEASE_NAMESPACE", "default");
                                    env.put("PHOENIX_HTTP_PORT", Integer.toString(port));
                                    env.put("PHOENIX_NAMESPACES", "");
                                })
                        .start();
        starts++;
        process.awaitHttpOk(httpPort, "/readyz", Duration.ofSeconds(leaderElection ? 90 : 60));
        return this;
    }

    /** SIGKILL, as a node or OOM killer would: no shutdown hook runs. */
    public synchronized void kill() throws InterruptedException {
        if (process != null) {
            process.kill();
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
        return ManagedProcess.tail(logFile, 40);
    }

    /** SIGTERM (graceful), SIGKILL after 10 s. */
    @Override
    public synchronized void close() {
        if (process != null) {
            process.close();
        }
    }
}
