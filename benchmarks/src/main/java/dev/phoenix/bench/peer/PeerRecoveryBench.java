package dev.phoenix.bench.peer;

import dev.phoenix.bench.Args;
import dev.phoenix.bench.AuditLog;
import dev.phoenix.bench.BenchEnv;
import dev.phoenix.bench.PodRecorder;
import dev.phoenix.bench.Quiet;
import dev.phoenix.bench.Stats;
import dev.phoenix.bench.Table;
import dev.phoenix.bench.Waits;
import dev.phoenix.local.controlplane.KubernetesBinaries;
import dev.phoenix.local.disruption.ClusterDisruptions;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import java.util.stream.Collectors;

/**
 * Phoenix against the peers a user would pick instead, in one run on one control plane (real
 * kube-apiserver, etcd, scheduler and kube-controller-manager; pods simulated by KWOK, so only the
 * controllers differ): an Indexed Job with {@code podFailurePolicy} (the Job controller), JobSet
 * (its controller built from its Go module, {@code hack/jobset.sh}), and the bare-client floor
 * (watch, delete the gang, create the gang, nothing else). Each peer gets its own namespace and the
 * same disruption: the Eviction API on one running pod, {@code --preemptions} times per gang size.
 * Prints one table per gang size with the ratio to the floor, and writes an SVG chart of the
 * distributions ({@code --chart}).
 *
 * <pre>
 * java -cp … dev.phoenix.bench.peer.PeerRecoveryBench [--preemptions 50] [--replicas 2,64,1000]
 *     [--large-preemptions 10] [--peers bare,phoenix,job,jobset] [--job-preemptions 4]
 *     [--jobs 1000] [--chart target/peer-recovery.svg] [--component-qps 5000]
 * </pre>
 */
public final class PeerRecoveryBench {
    private PeerRecoveryBench() {}

    public static void main(String[] args) throws Exception {
        Quiet.logging();
        Map<String, String> a = Args.parse(args);
        int preemptions = Args.integer(a, "preemptions", 50);
        // A 1,000-pod gang takes tens of seconds per recovery for each peer that recreates it.
        int largePreemptions = Args.integer(a, "large-preemptions", preemptions);
        int jobPreemptions = Args.integer(a, "job-preemptions", 4);
        List<Integer> sizes =
                List.of(Args.string(a, "replicas", "2,64").split(",")).stream()
                        .map(String::trim)
                        .map(Integer::parseInt)
                        .toList();
        List<String> peers = List.of(Args.string(a, "peers", "bare,phoenix,job,jobset").split(","));
        Path chart = Path.of(Args.string(a, "chart", "target/peer-recovery.svg"));
        int jobs = Args.integer(a, "jobs", 0);
        BenchEnv.log("machine: %s", BenchEnv.machine());
        Map<String, Map<Integer, List<GangRecovery>>> all = new LinkedHashMap<>();
        // Each client sends its own user agent: the API server's audit log counts every peer's
        // requests alike (AuditLog.source).
        AuditLog audit = AuditLog.in(Files.createTempDirectory("phoenix-bench-audit-"));
        // No client rate limit on the scheduler and the controller manager (the Job controller, and
        // JobSet's child Jobs), as kwokctl sets up its simulated clusters (kube-api-qps 5000,
        // burst 10000; KWOK's own client and Fabric8's have none): at the defaults (50/s) a
        // 1,000-pod gang waits 20 s for its binds whoever recreates it, and the Job controller
        // creates at 50/s where Phoenix does not.
        int qps = Args.integer(a, "component-qps", 5000);
        try (BenchEnv env =
                BenchEnv.start(
                        audit.apiServerFlags(), b -> b.componentClientLimits(qps, 2 * qps))) {
            env.kwok();
            env.operator(env.client(null, PhoenixPeer.USER_AGENT));
            KubernetesClient client = env.client(null, BENCH_USER_AGENT);
            ClusterDisruptions disruptions = new ClusterDisruptions(client);
            Peers factory = new Peers(env, client, jobPreemptions, qps);
            for (int size : sizes) {
                Map<String, List<GangRecovery>> bySize = new LinkedHashMap<>();
                Map<String, Requests> requests = new LinkedHashMap<>();
                List<String> notes = new ArrayList<>();
                for (String id : peers) {
                    String ns;
                    try (Peer peer = factory.peer(id)) {
                        ns = env.namespace(peer.job() + "-" + size);
                        List<String> missing = new ArrayList<>();
                        Run run =
                                run(
                                        peer,
                                        client,
                                        disruptions,
                                        ns,
                                        size,
                                        peer.preemptions(
                                                size >= 500 ? largePreemptions : preemptions),
                                        missing);
                        List<GangRecovery> rs = run.recoveries();
                        requests.put(
                                peer.name(),
                                new Requests(
                                        run.disruptions(), audit.between(run.from(), run.to())));
                        bySize.put(peer.name(), rs);
                        all.computeIfAbsent(peer.name(), k -> new LinkedHashMap<>()).put(size, rs);
                        String note = peer.note();
                        if (!missing.isEmpty()) {
                            note +=
                                    " "
                                            + missing.size()
                                            + " preemption(s) left out: "
                                            + missing.get(0);
                        }
                        if (!note.isBlank()) {
                            notes.add(peer.name() + ": " + note.trim());
                        }
                    }
                    // After the peer's own clean-up (close): what it left is the namespace's.
                    retire(env, ns);
                }
                table(size, bySize, notes).print();
                requestTable(size, requests).print();
            }
            // The chart first: the recoveries are measured, whatever the many-jobs part does.
            RecoveryChart.write(chart, all);
            BenchEnv.log("chart: %s", chart.toAbsolutePath());
            if (jobs > 0) {
                manyJobs(env, factory, peers, jobs, audit).print();
            }
        }
    }

    static final String BENCH_USER_AGENT = "phoenix-bench";

    /** What every peer of one run is made from. */
    record Peers(BenchEnv env, KubernetesClient client, int jobPreemptions, int componentQps) {
        Peer peer(String id) {
            return switch (id.trim()) {
                case "phoenix" -> new PhoenixPeer(client);
                case "job" -> new IndexedJobPeer(client, jobPreemptions);
                case "jobset" -> new JobSetPeer(client, env.cp.kubeconfigPath(), componentQps);
                case "bare" ->
                        new BareClientPeer(env.client(null, BareClientPeer.USER_AGENT), false);
                case "bare-dns" ->
                        new BareClientPeer(env.client(null, BareClientPeer.USER_AGENT), true);
                default ->
                        throw new IllegalArgumentException(
                                "unknown peer " + id + " (phoenix, job, jobset, bare, bare-dns)");
            };
        }
    }

    /** The peer's live pods (created, not being deleted, not gone), by name. */
    private static List<PodRecorder.Trace> live(PodRecorder rec, String job) {
        return rec.all().stream()
                .filter(t -> job.equals(t.job) && t.added != 0 && t.deletion == 0 && t.gone == 0)
                .sorted(Comparator.comparing(t -> t.name))
                .toList();
    }

    /**
     * One peer's preemptions: its recoveries, and the window from the first eviction to the end.
     */
    record Run(List<GangRecovery> recoveries, int disruptions, Instant from, Instant to) {}

    static Run run(
            Peer peer,
            KubernetesClient client,
            ClusterDisruptions disruptions,
            String ns,
            int replicas,
            int preemptions,
            List<String> missing)
            throws Exception {
        List<GangRecovery> out = new ArrayList<>();
        Instant from = null;
        try (PodRecorder rec = new PodRecorder(client, ns)) {
            peer.start(ns, replicas);
            for (int i = 0; i < preemptions; i++) {
                await(
                        rec,
                        peer,
                        "the gang running before preemption " + (i + 1),
                        () -> {
                            List<PodRecorder.Trace> l = live(rec, peer.job());
                            return l.size() == replicas
                                    && l.stream().allMatch(t -> t.running != 0)
                                    && peer.ready();
                        });
                Thread.sleep(100); // let the controller settle after "all running"
                List<PodRecorder.Trace> gang = live(rec, peer.job());
                PodRecorder.Trace victim = gang.get(i % gang.size());
                Set<String> before = gang.stream().map(t -> t.uid).collect(Collectors.toSet());
                Set<String> leaving = peer.restartsWholeGang() ? before : Set.of(victim.uid);
                int expected = peer.restartsWholeGang() ? replicas : 1;
                long issued = System.nanoTime();
                if (from == null) {
                    from = Instant.now();
                }
                disruptions.evict(victim.last);
                await(
                        rec,
                        peer,
                        "the recovery from preemption " + (i + 1),
                        () -> {
                            List<PodRecorder.Trace> fresh =
                                    live(rec, peer.job()).stream()
                                            .filter(t -> t.added > issued)
                                            .toList();
                            return fresh.size() == expected
                                    && fresh.stream().allMatch(t -> t.running != 0)
                                    && rec.all().stream()
                                            .filter(t -> leaving.contains(t.uid))
                                            .allMatch(t -> t.gone != 0);
                        });
                GangRecovery r = GangRecovery.of(rec.all(), before, leaving, victim.uid, issued);
                if (r == null) {
                    missing.add(
                            "preemption " + (i + 1) + ": the watch missed part of its timeline");
                } else {
                    out.add(r);
                }
                if ((i + 1) % 10 == 0) {
                    BenchEnv.log("%s, %d pods: %d preemptions done", peer.name(), replicas, i + 1);
                }
            }
        }
        return new Run(out, preemptions, from == null ? Instant.now() : from, Instant.now());
    }

    /**
     * Deletes a peer's namespace and waits until it is gone, so that the next peer is measured on a
     * control plane that is not still tearing down the last one's objects: a namespace of 1,000
     * jobs keeps the namespace controller, the garbage collector, KWOK (and an operator that sees
     * its pods go) busy for a minute or more, which the next peer's figures used to absorb.
     */
    static void retire(BenchEnv env, String ns) throws InterruptedException {
        long t0 = System.nanoTime();
        env.admin.namespaces().withName(ns).delete();
        Waits.until(1800, () -> env.admin.namespaces().withName(ns).get() == null);
        BenchEnv.log(
                "namespace %s gone %.1f s after its delete", ns, (System.nanoTime() - t0) / 1e9);
    }

    /**
     * {@code n} one-pod workloads of each peer created at once: how long until every pod runs, and
     * the requests it took per workload.
     */
    static Table manyJobs(BenchEnv env, Peers factory, List<String> peers, int n, AuditLog audit)
            throws Exception {
        Table t =
                new Table(
                        String.format(
                                Locale.ROOT,
                                "%,d one-pod jobs created at once (%d creates in flight), peers in one run",
                                n,
                                Peer.CREATE_CALLS),
                        "peer",
                        "all creates answered",
                        "half the pods running",
                        "95 % running",
                        "all running",
                        "all running ÷ bare client",
                        "controller requests per job");
        Map<String, long[]> rows = new LinkedHashMap<>();
        Map<String, Double> requests = new LinkedHashMap<>();
        for (String id : peers) {
            String ns;
            try (Peer peer = factory.peer(id)) {
                ns = env.namespace(peer.job() + "-many");
                try (PodRecorder rec = new PodRecorder(factory.client(), ns)) {
                    Instant from = Instant.now();
                    long t0 = System.nanoTime();
                    peer.startMany(ns, n);
                    long issued = System.nanoTime() - t0;
                    Waits.until(
                            1800,
                            () ->
                                    rec.all().stream()
                                                    .filter(x -> x.running != 0 && x.deletion == 0)
                                                    .count()
                                            >= n);
                    long[] running =
                            rec.all().stream()
                                    .filter(x -> x.running != 0)
                                    .mapToLong(x -> x.running - t0)
                                    .sorted()
                                    .toArray();
                    rows.put(
                            peer.name(),
                            new long[] {
                                issued,
                                running[n / 2 - 1],
                                running[(int) Math.ceil(n * 0.95) - 1],
                                running[n - 1]
                            });
                    long controllers =
                            audit.between(from, Instant.now()).stream()
                                    .filter(q -> !common(q.source()))
                                    .count();
                    requests.put(peer.name(), (double) controllers / n);
                    BenchEnv.log(
                            "%s: %d one-pod jobs running %.1f s after the first create",
                            peer.name(), n, running[n - 1] / 1e9);
                }
            }
            retire(env, ns);
        }
        long floor =
                rows.entrySet().stream()
                        .filter(e -> e.getKey().startsWith("bare client"))
                        .map(e -> e.getValue()[3])
                        .findFirst()
                        .orElse(0L);
        for (var e : rows.entrySet()) {
            long[] r = e.getValue();
            t.row(
                    e.getKey(),
                    Stats.ms(r[0] / 1e6),
                    Stats.ms(r[1] / 1e6),
                    Stats.ms(r[2] / 1e6),
                    Stats.ms(r[3] / 1e6),
                    Stats.ratio(r[3], floor),
                    String.format(Locale.ROOT, "%.1f", requests.get(e.getKey())));
        }
        t.note(
                "Times from the first create request to the n-th pod seen Running by this JVM's watch. The"
                        + " bare client creates the pods themselves; Phoenix a TrainingJob, the Job peer an"
                        + " Indexed Job and JobSet a JobSet of one pod each (same simulated pod, KWOK). Requests:"
                        + " the API server's audit log, all sources but the scheduler, KWOK and the benchmark.");
        return t;
    }

    /** The requests the API server served during one peer's preemptions. */
    record Requests(int disruptions, List<AuditLog.Request> served) {}

    /** Sources that are not a peer's controller: the same for every peer. */
    private static boolean common(String source) {
        return source.equals("kube-scheduler")
                || source.equals("KWOK")
                || source.equals(BENCH_USER_AGENT);
    }

    static Table requestTable(int replicas, Map<String, Requests> byPeer) {
        Table t =
                new Table(
                        String.format(
                                Locale.ROOT,
                                "API requests per recovery of a %d-pod gang, by who sent them (the API server's audit log)",
                                replicas),
                        "peer",
                        "recoveries",
                        "controllers (all but the scheduler, KWOK, the benchmark)",
                        "of which (verb resource: per recovery)",
                        "kube-scheduler",
                        "KWOK",
                        "controllers ÷ bare client");
        Map<String, Double> perRecovery = new LinkedHashMap<>();
        for (var e : byPeer.entrySet()) {
            int n = Math.max(1, e.getValue().disruptions());
            long controllers =
                    e.getValue().served().stream().filter(q -> !common(q.source())).count();
            perRecovery.put(e.getKey(), (double) controllers / n);
        }
        double floor =
                perRecovery.entrySet().stream()
                        .filter(e -> e.getKey().startsWith("bare client"))
                        .map(Map.Entry::getValue)
                        .findFirst()
                        .orElse(Double.NaN);
        for (var e : byPeer.entrySet()) {
            int n = Math.max(1, e.getValue().disruptions());
            Map<String, Map<String, Long>> bySource = AuditLog.bySource(e.getValue().served());
            StringBuilder detail = new StringBuilder();
            bySource.forEach(
                    (source, calls) -> {
                        if (common(source)) {
                            return;
                        }
                        String top =
                                calls.entrySet().stream()
                                        .sorted(
                                                Map.Entry.<String, Long>comparingByValue()
                                                        .reversed())
                                        .limit(5)
                                        .map(
                                                c ->
                                                        String.format(
                                                                Locale.ROOT,
                                                                "%s %.1f",
                                                                c.getKey(),
                                                                (double) c.getValue() / n))
                                        .collect(Collectors.joining(", "));
                        detail.append(detail.length() == 0 ? "" : "; ")
                                .append(source)
                                .append(": ")
                                .append(top);
                    });
            long scheduler =
                    e.getValue().served().stream()
                            .filter(q -> q.source().equals("kube-scheduler"))
                            .count();
            long kwok =
                    e.getValue().served().stream().filter(q -> q.source().equals("KWOK")).count();
            t.row(
                    e.getKey(),
                    Integer.toString(e.getValue().disruptions()),
                    String.format(Locale.ROOT, "%.1f", perRecovery.get(e.getKey())),
                    detail.toString(),
                    String.format(Locale.ROOT, "%.1f", (double) scheduler / n),
                    String.format(Locale.ROOT, "%.1f", (double) kwok / n),
                    Stats.ratio(perRecovery.get(e.getKey()), floor));
        }
        t.note(
                "Every request the kube-apiserver served from the first eviction to the last recovery (audit"
                        + " policy: ResponseComplete, metadata; watches and leader-election Leases left out),"
                        + " by user agent, and for kube-controller-manager by the controller's service account."
                        + " JobSet's recoveries include the Job controller's work on its child Jobs. The"
                        + " scheduler's binds and KWOK's status updates are per pod, the same for every peer"
                        + " that recreates the same pods.");
        return t;
    }

    private static void await(
            PodRecorder rec, Peer peer, String what, java.util.function.BooleanSupplier done)
            throws InterruptedException {
        try {
            Waits.until(300, done);
        } catch (IllegalStateException timedOut) {
            List<PodRecorder.Trace> l = live(rec, peer.job());
            throw new IllegalStateException(
                    peer.name()
                            + ": "
                            + what
                            + " did not happen within 300 s; live pods "
                            + l.size()
                            + ", running "
                            + l.stream().filter(t -> t.running != 0).count()
                            + ", ready "
                            + peer.ready(),
                    timedOut);
        }
    }

    /** The p50 of the peer whose row label starts with {@code prefix}; NaN when it did not run. */
    private static double floor(
            Map<String, List<GangRecovery>> bySize,
            String prefix,
            Function<List<GangRecovery>, Stats> running) {
        return bySize.entrySet().stream()
                .filter(e -> e.getKey().startsWith(prefix) && !e.getValue().isEmpty())
                .map(e -> running.apply(e.getValue()).p50())
                .findFirst()
                .orElse(Double.NaN);
    }

    static Table table(int replicas, Map<String, List<GangRecovery>> bySize, List<String> notes) {
        Table t =
                new Table(
                        String.format(
                                Locale.ROOT,
                                "Recovery of a %d-pod gang after an eviction, peers in one run (kube-apiserver "
                                        + KubernetesBinaries.VERSION
                                        + " + etcd + scheduler + kube-controller-manager, KWOK pods)",
                                replicas),
                        "peer",
                        "n",
                        "observed → old pods gone p50",
                        "observed → replacements created p50 / p95 / max",
                        "observed → all running p50 / p95 / max",
                        "all running p50 ÷ bare-client floor",
                        "÷ floor with the gang's Service (bare-dns)");
        Function<List<GangRecovery>, Stats> running =
                rs -> Stats.of(GangRecovery.col(rs, GangRecovery::running));
        double floor = floor(bySize, "bare client (", running);
        double sameGang = floor(bySize, "bare client + ", running);
        for (var e : bySize.entrySet()) {
            List<GangRecovery> rs = e.getValue();
            Stats gone = Stats.of(GangRecovery.col(rs, GangRecovery::oldGone));
            Stats created = Stats.of(GangRecovery.col(rs, GangRecovery::created));
            Stats run = running.apply(rs);
            t.row(
                    e.getKey(),
                    Integer.toString(rs.size()),
                    Stats.ms(gone.p50()),
                    created.summary("%.0f") + " ms",
                    run.summary("%.0f") + " ms",
                    Stats.ratio(run.p50(), floor),
                    Double.isNaN(sameGang) ? "" : Stats.ratio(run.p50(), sameGang));
        }
        t.note(
                "Observed = this JVM's pod watch sees the victim's DisruptionTarget condition or deletion"
                        + " timestamp. Phoenix and the bare client restart the whole gang (every old pod gone"
                        + " before the first new one is created); the Job controller replaces only the evicted"
                        + " index, its other pods keep running.");
        notes.forEach(t::note);
        return t;
    }
}
