package dev.phoenix.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Every API request the kube-apiserver served, from its own audit log: the one count that covers
 * every peer alike (Phoenix's operator, the bare client, kube-controller-manager's Job controller,
 * JobSet's controller), whatever client library they use. The policy logs each request once, at
 * {@code ResponseComplete}, with metadata only; watches (long-running, one per informer) and
 * leader-election Leases are left out. A request's source is its user agent, and for
 * kube-controller-manager (run with {@code --use-service-account-credentials}) the controller's
 * service account: {@code kube-controller-manager/job-controller}.
 */
public final class AuditLog {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String POLICY =
            """
            apiVersion: audit.k8s.io/v1
            kind: Policy
            omitStages: ["RequestReceived"]
            rules:
              - level: None
                verbs: ["watch"]
              - level: None
                resources: [{group: "coordination.k8s.io", resources: ["leases"]}]
              - level: None
                nonResourceURLs: ["*"]
              - level: Metadata
            """;

    private final Path log;

    private AuditLog(Path log) {
        this.log = log;
    }

    /** Writes the policy into {@code dir}; add {@link #apiServerFlags()} to the API server. */
    public static AuditLog in(Path dir) {
        try {
            Files.createDirectories(dir);
            Files.writeString(dir.resolve("audit-policy.yaml"), POLICY);
            return new AuditLog(dir.resolve("audit.log"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public List<String> apiServerFlags() {
        Path dir = log.getParent();
        // Batched: the API server does not wait for the file on every request (the latency of all
        // peers stays what it is without auditing); a batch is written within a second.
        return List.of(
                "--audit-policy-file=" + dir.resolve("audit-policy.yaml"),
                "--audit-log-path=" + log,
                "--audit-log-format=json",
                "--audit-log-mode=batch",
                "--audit-log-batch-max-wait=1s",
                "--audit-log-maxsize=2000");
    }

    /** One served request: when, who, what. */
    public record Request(Instant at, String source, String verb, String resource) {}

    /**
     * The requests received in {@code [from, to]}, once the API server has written its batches
     * (waits 2 s for the last one).
     */
    public List<Request> between(Instant from, Instant to) throws InterruptedException {
        Thread.sleep(2000);
        return read(log, from, to);
    }

    /** The requests of an audit log file received in {@code [from, to]}. */
    static List<Request> read(Path log, Instant from, Instant to) {
        List<Request> out = new ArrayList<>();
        if (!Files.exists(log)) {
            return out;
        }
        try (BufferedReader r = Files.newBufferedReader(log)) {
            String line;
            while ((line = r.readLine()) != null) {
                JsonNode e = JSON.readTree(line);
                Instant at = Instant.parse(e.path("requestReceivedTimestamp").asText());
                if (at.isBefore(from) || at.isAfter(to)) {
                    continue;
                }
                JsonNode ref = e.path("objectRef");
                String resource =
                        ref.path("resource").asText("?")
                                + (ref.hasNonNull("subresource")
                                        ? "/" + ref.get("subresource").asText()
                                        : "");
                out.add(
                        new Request(
                                at,
                                source(
                                        e.path("userAgent").asText(""),
                                        e.path("user").path("username").asText("")),
                                e.path("verb").asText(),
                                resource));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out;
    }

    /** Who sent a request, from its user agent (and the controller's account). */
    static String source(String userAgent, String username) {
        String ua = userAgent.toLowerCase(java.util.Locale.ROOT);
        if (ua.startsWith("kube-controller-manager")) {
            String sa = "system:serviceaccount:kube-system:";
            return "kube-controller-manager"
                    + (username.startsWith(sa) ? "/" + username.substring(sa.length()) : "");
        }
        if (ua.startsWith("kube-scheduler")) {
            return "kube-scheduler";
        }
        if (ua.contains("kwok")) {
            return "KWOK";
        }
        String first = userAgent.split("[/ ]", 2)[0];
        return first.isEmpty() ? "(no user agent)" : first;
    }

    /** Requests per source, and per "verb resource" of each source. */
    public static Map<String, Map<String, Long>> bySource(List<Request> requests) {
        Map<String, Map<String, Long>> out = new TreeMap<>();
        for (Request q : requests) {
            out.computeIfAbsent(q.source(), k -> new TreeMap<>())
                    .merge(q.verb() + " " + q.resource(), 1L, Long::sum);
        }
        return out;
    }
}
