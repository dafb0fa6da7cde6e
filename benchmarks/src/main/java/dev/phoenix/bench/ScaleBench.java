package dev.phoenix.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.phoenix.api.v1alpha1.TrainingJob;
import dev.phoenix.e2e.JobConfig;
import dev.phoenix.e2e.TrainingJobs;
import dev.phoenix.local.disruption.ClusterDisruptions;
import dev.phoenix.local.kwok.Kwok;
import dev.phoenix.local.process.ManagedProcess;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.Watch;
import io.fabric8.kubernetes.client.Watcher;
import io.fabric8.kubernetes.client.WatcherException;
import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * Part 3: {@code --jobs} TrainingJobs of one replica each, reconciled by one operator (its own JVM,
 * {@link ScaleOperatorProcess}), pods simulated by KWOK, on a real API server and scheduler: time
 * to create all gangs, recovery latency when {@code --preempt-percent} of them are preempted at
 * once, operator heap and CPU, API requests per job lifecycle, and requests of an idle operator.
 *
 * <pre>
 * java -cp … dev.phoenix.bench.ScaleBench [--jobs 1000] [--preempt-percent 10] [--idle-seconds 60] [--complete 100]
 * </pre>
 */
public final class ScaleBench {
    private static final ObjectMapper JSON = new ObjectMapper();

    public static void main(String[] args) throws Exception {
        Quiet.logging();
        Map<String, String> a = Args.parse(args);
        int jobs = Args.integer(a, "jobs", 1000);
        int preemptPct = Args.integer(a, "preempt-percent", 10);
        int idleSeconds = Args.integer(a, "idle-seconds", 60);
        int complete = Math.min(jobs, Args.integer(a, "complete", 100));
        int threads = Args.integer(a, "client-threads", 8);
        BenchEnv.log("machine: %s", BenchEnv.machine());
        try (BenchEnv env = BenchEnv.start()) {
            String ns = env.namespace("bench-scale");
            KubernetesClient client = env.client(null);
            Stats floor = env.watchDelivery(ns, 50);
            BenchEnv.log("watch delivery floor p50 %.1f ms", floor.p50());
            double rawPods = rawPodCreates(client, ns, jobs, threads);
            BenchEnv.log(
                    "baseline: %d plain pod creates with %d threads in %.1f s",
                    jobs, threads, rawPods);

            Kwok kwok = env.kwok();
            try (PodRecorder rec = new PodRecorder(env.client(null), ns);
                    OperatorChild op = new OperatorChild(env.cp.kubeconfigPath())) {
                Map<String, String> phases = new ConcurrentHashMap<>();
                Watch jw =
                        client.resources(TrainingJob.class)
                                .inNamespace(ns)
                                .watch(
                                        new Watcher<>() {
                                            @Override
                                            public void eventReceived(
                                                    Action action, TrainingJob j) {
                                                phases.put(
                                                        j.getMetadata().getName(),
                                                        TrainingJobs.phase(
                                                                j.getStatus() == null
                                                                        ? new dev.phoenix.api
                                                                                .v1alpha1
                                                                                .TrainingJobStatus()
                                                                        : j.getStatus()));
                                            }

                                            @Override
                                            public void onClose(WatcherException cause) {}
                                        });
                Thread.sleep(3000);
                JsonNode s0 = op.stats();

                // --- create ---
                JobConfig cfg = new JobConfig(1, 1_000_000, 32, 32, 42, 0, 100, 3, 3, 100, 30);
                long t0 = System.nanoTime();
                ExecutorService pool = Executors.newFixedThreadPool(threads);
                List<Future<?>> fs = new ArrayList<>();
                for (int i = 0; i < jobs; i++) {
                    String name = String.format(Locale.ROOT, "job-%04d", i);
                    fs.add(
                            pool.submit(
                                    () ->
                                            client.resource(
                                                            TrainingJobs.job(
                                                                    ns,
                                                                    name,
                                                                    cfg,
                                                                    // one checkpoint location per
                                                                    // job:
                                                                    // Phoenix refuses a shared one
                                                                    Path.of(
                                                                            "/tmp/phoenix-bench/unused",
                                                                            name)))
                                                    .create()));
                }
                for (Future<?> f : fs) {
                    f.get();
                }
                double tObjects = (System.nanoTime() - t0) / 1e9;
                BenchEnv.log("%d TrainingJobs created in %.1f s", jobs, tObjects);
                Waits.until(
                        900, () -> rec.all().stream().filter(t -> t.attempt == 1).count() >= jobs);
                double tGangs = (System.nanoTime() - t0) / 1e9;
                BenchEnv.log("all %d gangs created after %.1f s", jobs, tGangs);
                Waits.until(
                        900,
                        () -> phases.values().stream().filter("Running"::equals).count() >= jobs);
                double tRunning = (System.nanoTime() - t0) / 1e9;
                BenchEnv.log("all %d jobs Running after %.1f s", jobs, tRunning);
                Thread.sleep(3000);
                JsonNode s1 = op.stats();

                // --- preempt N% at once ---
                int n = Math.max(1, jobs * preemptPct / 100);
                List<String> victims = new ArrayList<>();
                for (int i = 0; i < n; i++) {
                    victims.add(String.format(Locale.ROOT, "job-%04d", i * (jobs / n)));
                }
                Map<String, Long> issued = new ConcurrentHashMap<>();
                ClusterDisruptions d = new ClusterDisruptions(client);
                long tp = System.nanoTime();
                fs.clear();
                for (String v : victims) {
                    fs.add(
                            pool.submit(
                                    () -> {
                                        issued.put(v, System.nanoTime());
                                        d.evict(rec.of(v, 1).get(0).last);
                                    }));
                }
                for (Future<?> f : fs) {
                    f.get();
                }
                double tIssued = (System.nanoTime() - tp) / 1e9;
                Waits.until(900, () -> victims.stream().allMatch(v -> rec.of(v, 2).size() == 1));
                double tReplaced = (System.nanoTime() - tp) / 1e9;
                BenchEnv.log(
                        "%d preemptions issued in %.1f s, all replaced after %.1f s",
                        n, tIssued, tReplaced);
                List<Recovery> rs = new ArrayList<>();
                Waits.until(
                        120,
                        () ->
                                victims.stream()
                                        .allMatch(
                                                v ->
                                                        rec.of(v, 1).stream()
                                                                .allMatch(t -> t.gone != 0)));
                for (String v : victims) {
                    Recovery r = Recovery.of(rec, v, 1, 1, issued.get(v), 0);
                    if (r != null) {
                        rs.add(r);
                    }
                }
                Waits.until(
                        900,
                        () -> phases.values().stream().filter("Running"::equals).count() >= jobs);
                Thread.sleep(3000);
                JsonNode s2 = op.stats();

                // --- idle ---
                BenchEnv.log("idle for %d s", idleSeconds);
                Thread.sleep(idleSeconds * 1000L);
                JsonNode s3 = op.stats();

                // --- completion of some jobs: every container exits 0 ---
                List<String> done = new ArrayList<>();
                for (int i = 0; i < complete; i++) {
                    done.add(String.format(Locale.ROOT, "job-%04d", jobs - 1 - i));
                }
                fs.clear();
                for (String j : done) {
                    // the job's current attempt: some of these were among the preempted ones
                    fs.add(
                            pool.submit(
                                    () ->
                                            kwok.exit(
                                                    rec.of(
                                                                    j,
                                                                    TrainingJobs.status(
                                                                                    client, ns, j)
                                                                            .getAttempt())
                                                            .get(0)
                                                            .last,
                                                    0,
                                                    "")));
                }
                for (Future<?> f : fs) {
                    f.get();
                }
                Waits.until(
                        600, () -> done.stream().allMatch(j -> "Succeeded".equals(phases.get(j))));
                Thread.sleep(3000);
                JsonNode s4 = op.stats();
                pool.shutdown();
                jw.close();

                summary(
                                jobs,
                                n,
                                complete,
                                idleSeconds,
                                floor,
                                rawPods,
                                threads,
                                tObjects,
                                tGangs,
                                tRunning,
                                tIssued,
                                tReplaced,
                                rs,
                                s0,
                                s1,
                                s2,
                                s3,
                                s4)
                        .print();
                requests(jobs, n, complete, idleSeconds, s0, s1, s2, s3, s4).print();
            }
        }
    }

    /**
     * Baseline: the API server's speed at creating plain pods with the same client parallelism
     * (then deleted).
     */
    static double rawPodCreates(KubernetesClient client, String ns, int n, int threads)
            throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        long t0 = System.nanoTime();
        List<Future<?>> fs = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            String name = "raw-" + i;
            fs.add(
                    pool.submit(
                            () ->
                                    client.pods()
                                            .inNamespace(ns)
                                            .resource(
                                                    new PodBuilder()
                                                            .withNewMetadata()
                                                            .withName(name)
                                                            .addToLabels("phoenix.dev/bench", "raw")
                                                            .endMetadata()
                                                            .withNewSpec()
                                                            .addNewContainer()
                                                            .withName("c")
                                                            .withImage("phoenix/trainer:0.1.0")
                                                            .endContainer()
                                                            .endSpec()
                                                            .build())
                                            .create()));
        }
        for (Future<?> f : fs) {
            f.get();
        }
        double s = (System.nanoTime() - t0) / 1e9;
        pool.shutdown();
        client.pods()
                .inNamespace(ns)
                .withLabel("phoenix.dev/bench", "raw")
                .withGracePeriod(0)
                .delete();
        Waits.until(
                120,
                () ->
                        client.pods()
                                .inNamespace(ns)
                                .withLabel("phoenix.dev/bench", "raw")
                                .list()
                                .getItems()
                                .isEmpty());
        return s;
    }

    static Table summary(
            int jobs,
            int n,
            int complete,
            int idle,
            Stats floor,
            double rawPods,
            int threads,
            double tObjects,
            double tGangs,
            double tRunning,
            double tIssued,
            double tReplaced,
            List<Recovery> rs,
            JsonNode s0,
            JsonNode s1,
            JsonNode s2,
            JsonNode s3,
            JsonNode s4) {
        Table t =
                new Table(
                        String.format(
                                Locale.ROOT,
                                "Scale: %d TrainingJobs × 1 replica, one operator (own JVM, leader election on), pods simulated",
                                jobs),
                        "measurement",
                        "value",
                        "baseline / limit",
                        "ratio");
        t.row(
                "create " + jobs + " TrainingJob objects (" + threads + " client threads)",
                secs(tObjects),
                String.format(
                        Locale.ROOT, "%d plain pod creates, same threads: %s", jobs, secs(rawPods)),
                Stats.ratio(tObjects, rawPods));
        t.row(
                "… until every gang's pods exist",
                secs(tGangs),
                "plain pod creates: " + secs(rawPods),
                Stats.ratio(tGangs, rawPods));
        t.row(
                "… until every job is Running",
                secs(tRunning),
                "plain pod creates: " + secs(rawPods),
                Stats.ratio(tRunning, rawPods));
        Stats created = Stats.of(Recovery.col(rs, Recovery::created));
        Stats own = Stats.of(Recovery.col(rs, Recovery::operatorShare));
        t.row(
                n
                        + " preempted at once: observed → replacement created, p50 / p95 / max (n="
                        + rs.size()
                        + ")",
                created.summary("%.0f ms"),
                "watch delivery p50 " + Stats.ms(floor.p50()),
                Stats.ratio(created.p50(), floor.p50()));
        t.row(
                "… operator's own share, p50 / p95 / max",
                own.summary("%.0f ms"),
                "watch delivery p50 " + Stats.ms(floor.p50()),
                Stats.ratio(own.p50(), floor.p50()));
        t.row(
                "… all " + n + " preemption requests issued / all replaced",
                secs(tIssued) + " / " + secs(tReplaced),
                "",
                "");
        double h0 = s0.path("heapUsedAfterGc").asDouble() / 1048576;
        double h1 = s1.path("heapUsedAfterGc").asDouble() / 1048576;
        double h3 = s3.path("heapUsedAfterGc").asDouble() / 1048576;
        t.row(
                "operator heap after full GC: 0 jobs → " + jobs + " jobs Running",
                String.format(Locale.ROOT, "%.1f MiB → %.1f MiB", h0, h1),
                "",
                "");
        t.row("… per job", String.format(Locale.ROOT, "%.1f KiB", (h1 - h0) * 1024 / jobs), "", "");
        t.row(
                "… after preemptions and " + idle + " s idle",
                String.format(Locale.ROOT, "%.1f MiB", h3),
                "",
                "");
        double c01 = s1.path("cpuSeconds").asDouble() - s0.path("cpuSeconds").asDouble();
        double c12 = s2.path("cpuSeconds").asDouble() - s1.path("cpuSeconds").asDouble();
        double c23 = s3.path("cpuSeconds").asDouble() - s2.path("cpuSeconds").asDouble();
        double c34 = s4.path("cpuSeconds").asDouble() - s3.path("cpuSeconds").asDouble();
        t.row(
                "operator CPU: creating " + jobs + " jobs (incl. 3 s settle + stats GCs)",
                String.format(Locale.ROOT, "%.1f s (%.1f ms/job)", c01, c01 * 1000 / jobs),
                "wall " + secs(tRunning + 3),
                Stats.pct(c01, tRunning + 3) + " of one core");
        t.row(
                "operator CPU: " + n + " recoveries",
                String.format(Locale.ROOT, "%.1f s (%.1f ms/recovery)", c12, c12 * 1000 / n),
                "",
                "");
        t.row(
                "operator CPU: " + idle + " s idle",
                String.format(Locale.ROOT, "%.2f s", c23),
                "wall " + idle + " s",
                Stats.pct(c23, idle) + " of one core");
        t.row(
                "operator CPU: " + complete + " jobs completing",
                String.format(Locale.ROOT, "%.1f s (%.1f ms/job)", c34, c34 * 1000 / complete),
                "",
                "");
        t.note(
                "Operator CPU and heap are the operator JVM's own (ScaleOperatorProcess), measured by itself: "
                        + "`OperatingSystemMXBean.getProcessCpuTime`, heap used after `System.gc()`; the CPU figures include those GCs.");
        return t;
    }

    static Table requests(
            int jobs,
            int n,
            int complete,
            int idle,
            JsonNode s0,
            JsonNode s1,
            JsonNode s2,
            JsonNode s3,
            JsonNode s4) {
        Map<String, Long> r0 = map(s0);
        Map<String, Long> r1 = map(s1);
        Map<String, Long> r2 = map(s2);
        Map<String, Long> r3 = map(s3);
        Map<String, Long> r4 = map(s4);
        Map<String, Long> create = RequestCounter.minus(r1, r0);
        Map<String, Long> preempt = RequestCounter.minus(r2, r1);
        Map<String, Long> idleR = RequestCounter.minus(r3, r2);
        Map<String, Long> done = RequestCounter.minus(r4, r3);
        TreeSet<String> keys = new TreeSet<>();
        keys.addAll(create.keySet());
        keys.addAll(preempt.keySet());
        keys.addAll(idleR.keySet());
        keys.addAll(done.keySet());
        Table t =
                new Table(
                        "API requests sent by the operator (Fabric8 interceptor on its client), by verb and resource",
                        "verb resource",
                        "start, per job",
                        "preemption → recovery, per preemption",
                        "completion, per job",
                        "idle " + idle + " s, total");
        for (String k : keys) {
            t.row(
                    "`" + k + "`",
                    per(create.get(k), jobs),
                    per(preempt.get(k), n),
                    per(done.get(k), complete),
                    idleR.getOrDefault(k, 0L));
        }
        t.row(
                "**total**",
                per(RequestCounter.total(create), jobs),
                per(RequestCounter.total(preempt), n),
                per(RequestCounter.total(done), complete),
                RequestCounter.total(idleR));
        long idleOther =
                idleR.entrySet().stream()
                        .filter(
                                e ->
                                        !e.getKey().contains("leases")
                                                && !e.getKey().startsWith("watch "))
                        .mapToLong(Map.Entry::getValue)
                        .sum();
        t.note(
                String.format(
                        Locale.ROOT,
                        "Idle: %d request(s) in %d s other than watches and leader-election Lease renewals%s. "
                                + "Before the jobs existed the operator had sent %d requests (informer lists and watches, the Lease).",
                        idleOther,
                        idle,
                        idleOther == 0 ? " (none, as required)" : " (**expected none**)",
                        RequestCounter.total(r0)));
        return t;
    }

    private static String per(Long v, int n) {
        return v == null || v == 0 ? "" : String.format(Locale.ROOT, "%.2f", v / (double) n);
    }

    private static Map<String, Long> map(JsonNode s) {
        Map<String, Long> m = new TreeMap<>();
        s.path("requests").fields().forEachRemaining(e -> m.put(e.getKey(), e.getValue().asLong()));
        return m;
    }

    private static String secs(double s) {
        return String.format(Locale.ROOT, "%.1f s", s);
    }

    /** The operator JVM, driven through stdin/stdout. */
    static final class OperatorChild implements AutoCloseable {
        private final Process p;
        private final BufferedWriter in;
        private final BlockingQueue<String> stats = new LinkedBlockingQueue<>();

        OperatorChild(Path kubeconfig) throws Exception {
            Path log = Files.createTempFile("phoenix-bench-operator-", ".log");
            List<String> cmd =
                    ManagedProcess.javaCommand(
                            List.of("-Xmx1g"),
                            System.getProperty("java.class.path"),
                            ScaleOperatorProcess.class.getName(),
                            kubeconfig.toString());
            p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            in = new BufferedWriter(new OutputStreamWriter(p.getOutputStream()));
            BlockingQueue<String> ready = new LinkedBlockingQueue<>();
            Thread reader =
                    new Thread(
                            () -> {
                                try (BufferedReader r =
                                                new BufferedReader(
                                                        new InputStreamReader(p.getInputStream()));
                                        var w = Files.newBufferedWriter(log)) {
                                    for (String line; (line = r.readLine()) != null; ) {
                                        if (line.startsWith("STATS ")) {
                                            stats.add(line.substring(6));
                                        } else if (line.equals("READY")) {
                                            ready.add(line);
                                        } else {
                                            w.write(line);
                                            w.newLine();
                                            w.flush();
                                        }
                                    }
                                } catch (Exception e) {
                                    // process ended
                                }
                            },
                            "operator-stdout");
            reader.setDaemon(true);
            reader.start();
            if (ready.poll(120, TimeUnit.SECONDS) == null) {
                throw new IllegalStateException("operator process did not start; see " + log);
            }
            BenchEnv.log("operator process pid %d (log %s)", p.pid(), log);
        }

        JsonNode stats() throws Exception {
            in.write("stats\n");
            in.flush();
            String s = stats.poll(120, TimeUnit.SECONDS);
            if (s == null) {
                throw new IllegalStateException("no stats from the operator process");
            }
            return JSON.readTree(s);
        }

        @Override
        public void close() throws Exception {
            try {
                in.write("quit\n");
                in.flush();
            } catch (Exception ignored) {
                // gone
            }
            if (!p.waitFor(20, TimeUnit.SECONDS)) {
                p.destroyForcibly();
            }
        }
    }

    private ScaleBench() {}
}
