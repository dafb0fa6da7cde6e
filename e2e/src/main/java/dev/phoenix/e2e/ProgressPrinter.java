package dev.phoenix.e2e;

import dev.phoenix.api.v1alpha1.TrainingJob;
import dev.phoenix.api.v1alpha1.TrainingJobStatus;
import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.io.PrintStream;
import java.time.Duration;
import java.time.Instant;
import java.util.HashSet;
import java.util.Objects;
import java.util.Set;

/**
 * Prints {@code kubectl get tj -w}-style lines (one per change) and the job's events as they
 * happen.
 */
public final class ProgressPrinter implements AutoCloseable {
    static final String FORMAT = "%-12s %-11s %6s %11s %9s %12s %9s %6s%n";

    private final KubernetesClient client;
    private final String namespace;
    private final String name;
    private final PrintStream out;
    private final Thread thread;
    private final Set<String> seenEvents = new HashSet<>();
    private volatile boolean stop;
    private String last;

    public ProgressPrinter(
            KubernetesClient client, String namespace, String name, PrintStream out) {
        this.client = client;
        this.namespace = namespace;
        this.name = name;
        this.out = out;
        out.printf(
                FORMAT,
                "NAME",
                "PHASE",
                "STEP",
                "CHECKPOINT",
                "RESTARTS",
                "PREEMPTIONS",
                "FAILURES",
                "AGE");
        thread = new Thread(this::loop, "progress-" + name);
        thread.setDaemon(true);
        thread.start();
    }

    private void loop() {
        while (!stop) {
            try {
                poll();
            } catch (RuntimeException e) {
                // API hiccup: try again
            }
            try {
                Thread.sleep(500);
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    /** Prints what changed since the last call (also called once more on close). */
    public synchronized void poll() {
        TrainingJob j = TrainingJobs.get(client, namespace, name);
        if (j != null) {
            TrainingJobStatus s = j.getStatus() == null ? new TrainingJobStatus() : j.getStatus();
            String line =
                    String.format(
                            FORMAT,
                            name,
                            TrainingJobs.phase(s),
                            s.getCurrentStep() == null ? "" : s.getCurrentStep(),
                            s.getLatestCheckpoint() == null
                                            || s.getLatestCheckpoint().getStep() == null
                                    ? "<none>"
                                    : s.getLatestCheckpoint().getStep(),
                            Objects.toString(s.getRestarts(), "0"),
                            Objects.toString(s.getPreemptions(), "0"),
                            Objects.toString(s.getFailures(), "0"),
                            age(j));
            String key = line.substring(0, line.length() - 8); // the age column alone is no change
            if (!key.equals(last)) {
                last = key;
                out.print(line);
            }
        }
        for (Event e :
                client.v1()
                        .events()
                        .inNamespace(namespace)
                        .withField("involvedObject.name", name)
                        .list()
                        .getItems()) {
            if (!seenEvents.add(e.getMetadata().getUid())) {
                continue;
            }
            out.println("    event " + e.getType() + " " + e.getReason() + ": " + e.getMessage());
        }
    }

    private static String age(TrainingJob j) {
        String ts = j.getMetadata().getCreationTimestamp();
        if (ts == null) {
            return "";
        }
        long s = Duration.between(Instant.parse(ts), Instant.now()).getSeconds();
        return s < 120 ? s + "s" : (s / 60) + "m" + (s % 60) + "s";
    }

    @Override
    public void close() {
        stop = true;
        thread.interrupt();
        try {
            thread.join(2000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        try {
            poll();
        } catch (RuntimeException ignored) {
            // best effort
        }
    }
}
