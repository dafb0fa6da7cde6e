package dev.phoenix.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.phoenix.api.v1alpha1.TrainingJob;
import dev.phoenix.e2e.JobConfig;
import dev.phoenix.e2e.TrainingJobs;
import dev.phoenix.local.disruption.ClusterDisruptions;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.Watch;
import io.fabric8.kubernetes.client.Watcher;
import io.fabric8.kubernetes.client.WatcherException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDate;
import java.time.LocalTime;
import java.time.ZoneId;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.ToDoubleFunction;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Parts 1b and 2: recovery latency up to the trainer's first new step, and the work lost per
 * preemption, in real containers: a real node (kubelet + containerd) runs the trainer image (the
 * real ND4J trainer, tiny model); the real operator (in this JVM) restarts it after the Eviction
 * API evicts it. Two runs: a grace period long enough for the SIGTERM emergency checkpoint, and
 * {@code terminationGracePeriodSeconds: 1}, which leaves the trainer no time for one (it then exits
 * at once with the step it reached).
 *
 * <pre>
 * java -cp … dev.phoenix.bench.RealRecoveryBench [--preemptions 50] [--preemptions-no-emergency 20]
 *      [--interval 50] [--step-sleep-ms 20] [--grace 10]</pre>
 */
public final class RealRecoveryBench {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern LOG_TIME = Pattern.compile("^(\\d\\d:\\d\\d:\\d\\d\\.\\d\\d\\d) ");
    private static final Pattern LOADED = Pattern.compile("verified and loaded in ([0-9.]+) s");
    private static final Pattern STEP = Pattern.compile(" step (\\d+)/\\d+ loss");

    /** What one preemption cost, besides the pod timeline. */
    record Run(
            Recovery r,
            long reached,
            long resumed,
            double podStart,
            double jvmStart,
            double load,
            double firstStepCompute,
            double reportSeen,
            double stepSeconds) {
        long lost() {
            return reached < 0 || resumed < 0 ? -1 : reached - resumed;
        }
    }

    /** Progress reports seen per attempt: first (time, step) and last (time, step). */
    static final class Progress {
        volatile long firstNanos;
        volatile long firstStep = -1;
        volatile long lastNanos;
        volatile long lastStep = -1;
    }

    public static void main(String[] args) throws Exception {
        Quiet.logging();
        Map<String, String> a = Args.parse(args);
        int withEmergency = Args.integer(a, "preemptions", 50);
        int withoutEmergency = Args.integer(a, "preemptions-no-emergency", 20);
        int interval = Args.integer(a, "interval", 50);
        int stepSleep = Args.integer(a, "step-sleep-ms", 20);
        int grace = Args.integer(a, "grace", 10);
        BenchEnv.log("machine: %s", BenchEnv.machine());
        Path work = Files.createTempDirectory("phoenix-bench-real-");
        try (BenchEnv env = BenchEnv.startWithRealNode("bench-node", 4)) {
            String ns = env.namespace("bench-real");
            Stats floor = env.watchDelivery(ns, 50);
            BenchEnv.log("watch delivery floor: p50 %.1f ms", floor.p50());
            env.operator(env.client(null));
            try (PodRecorder rec = new PodRecorder(env.client(null), ns)) {
                KubernetesClient client = env.client(null);
                List<Run> emergency =
                        scenario(
                                client,
                                ns,
                                rec,
                                work,
                                "with-emergency",
                                withEmergency,
                                interval,
                                stepSleep,
                                grace);
                List<Run> none =
                        scenario(
                                client,
                                ns,
                                rec,
                                work,
                                "no-emergency",
                                withoutEmergency,
                                interval,
                                stepSleep,
                                1);
                latencyTable(floor, emergency, grace, interval, stepSleep).print();
                latencyTable(floor, none, 1, interval, stepSleep).print();
                lostWorkTable(emergency, none, grace, interval, stepSleep).print();
            }
        }
    }

    static List<Run> scenario(
            KubernetesClient client,
            String ns,
            PodRecorder rec,
            Path work,
            String name,
            int preemptions,
            int interval,
            int stepSleep,
            int grace)
            throws Exception {
        Map<Integer, Progress> progress = new ConcurrentHashMap<>();
        Watch w =
                client.configMaps()
                        .inNamespace(ns)
                        .withName(name + "-report")
                        .watch(
                                new Watcher<>() {
                                    @Override
                                    public void eventReceived(Action action, ConfigMap cm) {
                                        long now = System.nanoTime();
                                        String p =
                                                cm.getData() == null
                                                        ? null
                                                        : cm.getData().get("progress");
                                        if (p == null) {
                                            return;
                                        }
                                        try {
                                            JsonNode j = JSON.readTree(p);
                                            Progress pr =
                                                    progress.computeIfAbsent(
                                                            j.path("attempt").asInt(),
                                                            k -> new Progress());
                                            long step = j.path("step").asLong();
                                            if (pr.firstStep < 0) {
                                                pr.firstNanos = now;
                                                pr.firstStep = step;
                                            }
                                            if (step > pr.lastStep) {
                                                pr.lastNanos = now;
                                                pr.lastStep = step;
                                            }
                                        } catch (Exception e) {
                                            // not a progress report
                                        }
                                    }

                                    @Override
                                    public void onClose(WatcherException cause) {}
                                });
        JobConfig cfg =
                new JobConfig(1, 1_000_000, 32, 32, 42, stepSleep, interval, 3, 3, 100_000, grace);
        Path ckpt = Files.createDirectories(work.resolve("ckpt").resolve(name));
        Files.setPosixFilePermissions(
                ckpt, java.nio.file.attribute.PosixFilePermissions.fromString("rwxrwxrwx"));
        TrainingJob job = TrainingJobs.job(ns, name, cfg, ckpt);
        client.resource(job).create();
        ClusterDisruptions disruptions = new ClusterDisruptions(client);
        Random random = new Random(42);
        List<Run> runs = new ArrayList<>();
        try {
            for (int attempt = 1; attempt <= preemptions + 1; attempt++) {
                final int at = attempt;
                Waits.until(120, () -> progress.containsKey(at));
                if (attempt > 1) {
                    runs.add(measure(client, rec, name, attempt - 1, progress));
                    Run r = runs.get(runs.size() - 1);
                    BenchEnv.log(
                            "%s: preemption %d: observed → first step %.0f ms, lost %d steps",
                            name,
                            attempt - 1,
                            r.r() == null ? Double.NaN : r.r().firstStep(),
                            r.lost());
                }
                if (attempt == preemptions + 1) {
                    break;
                }
                // Preempt at a random point of the checkpoint interval: run 1 to 1 + ~1.5
                // intervals.
                double stepMs = stepSleep + 2;
                Thread.sleep(1000 + (long) (random.nextDouble() * 1.5 * interval * stepMs));
                Pod victim = rec.of(name, attempt).get(0).last;
                issued.put(name + "/" + attempt, System.nanoTime());
                disruptions.evict(victim);
            }
        } finally {
            w.close();
            client.resource(job).delete();
        }
        return runs;
    }

    private static final Map<String, Long> issued = new ConcurrentHashMap<>();

    static Run measure(
            KubernetesClient client,
            PodRecorder rec,
            String job,
            int oldAttempt,
            Map<Integer, Progress> progress)
            throws Exception {
        Progress p = progress.get(oldAttempt + 1);
        Waits.until(30, () -> rec.of(job, oldAttempt).stream().allMatch(t -> t.gone != 0));
        Recovery r =
                Recovery.of(
                        rec, job, oldAttempt, 1, issued.get(job + "/" + oldAttempt), p.firstNanos);
        PodRecorder.Trace old = rec.of(job, oldAttempt).get(0);
        PodRecorder.Trace fresh = rec.of(job, oldAttempt + 1).get(0);
        long reached = -1;
        if (old.terminationMessage != null && !old.terminationMessage.isBlank()) {
            try {
                reached = JSON.readTree(old.terminationMessage).path("step").asLong(-1);
            } catch (Exception e) {
                // fall back below
            }
        }
        if (reached < 0 && progress.containsKey(oldAttempt)) {
            reached =
                    progress.get(oldAttempt)
                            .lastStep; // lower bound: progress is reported every second
        }
        long resumed = Long.parseLong(TrainingJobs.env(fresh.last, "PHOENIX_RESUME_STEP"));
        resumed = Math.max(0, resumed);
        // The new trainer's own log: JVM start, checkpoint load, first step.
        double jvmStart = Double.NaN;
        double load = Double.NaN;
        double firstStepCompute = Double.NaN;
        double reportSeen = Double.NaN;
        double podStart =
                r == null || Double.isNaN(r.running()) ? Double.NaN : r.running() - r.created();
        // the container's log through the API server and the kubelet, once it has its first new
        // step
        Waits.until(30, () -> STEP.matcher(containerLog(client, fresh.last)).find());
        List<String> log = containerLog(client, fresh.last).lines().toList();
        long wallMinusNano = System.currentTimeMillis() * 1_000_000L - System.nanoTime();
        if (r != null && !log.isEmpty()) {
            double tLoaded = Double.NaN;
            double tStep = Double.NaN;
            for (String line : log) {
                Matcher lt = LOG_TIME.matcher(line);
                if (!lt.find()) {
                    continue;
                }
                long wallMs =
                        LocalTime.parse(lt.group(1))
                                .atDate(LocalDate.now())
                                .atZone(ZoneId.systemDefault())
                                .toInstant()
                                .toEpochMilli();
                Matcher ld = LOADED.matcher(line);
                if (ld.find() && Double.isNaN(tLoaded)) {
                    tLoaded = wallMs;
                    load = Double.parseDouble(ld.group(1)) * 1000;
                }
                if (STEP.matcher(line).find() && Double.isNaN(tStep)) {
                    tStep = wallMs;
                }
            }
            // Convert to "ms after observed" on this JVM's clock.
            long observedNanos =
                    issued.get(job + "/" + oldAttempt) + (long) (r.issuedToObserved() * 1e6);
            double observedWallMs = (observedNanos + wallMinusNano) / 1e6;
            double loaded = tLoaded - observedWallMs;
            double stepped = tStep - observedWallMs;
            if (resumed == 0) {
                load = 0; // a fresh start: nothing to load
                loaded = Double.NaN;
            }
            jvmStart = (Double.isNaN(loaded) ? stepped : loaded - load) - r.running();
            firstStepCompute = Double.isNaN(loaded) ? Double.NaN : stepped - loaded;
            reportSeen = r.firstStep() - stepped;
        }
        Progress op = progress.get(oldAttempt);
        double stepSeconds =
                op == null || op.lastStep <= op.firstStep
                        ? Double.NaN
                        : (op.lastNanos - op.firstNanos) / 1e9 / (op.lastStep - op.firstStep);
        return new Run(
                r,
                reached,
                resumed,
                podStart,
                jvmStart,
                load,
                firstStepCompute,
                reportSeen,
                stepSeconds);
    }

    static Table latencyTable(Stats floor, List<Run> runs, int grace, int interval, int stepSleep) {
        List<Run> ok = runs.stream().filter(r -> r.r() != null).toList();
        List<Recovery> rs = ok.stream().map(Run::r).toList();
        Table t =
                new Table(
                        String.format(
                                Locale.ROOT,
                                "Recovery latency with real processes: %d preemptions, real trainer (ND4J MLP hidden 32, 1 rank), terminationGracePeriodSeconds %d",
                                rs.size(),
                                grace),
                        "segment",
                        "p50",
                        "p95",
                        "max",
                        "share of total (p50)",
                        "p50 ÷ watch floor p50");
        double total = Stats.of(Recovery.col(rs, Recovery::firstStep)).p50();
        t.row(
                "**baseline**: watch delivery, n=" + floor.n(),
                Stats.ms(floor.p50()),
                Stats.ms(floor.p95()),
                Stats.ms(floor.max()),
                "",
                "1×");
        seg(t, "observed → gang deleted (operator)", ok, x -> x.r().gangDeleted(), total, floor);
        seg(
                t,
                "gang deleted → old pod gone (SIGTERM, emergency checkpoint if it fits, exit, kubelet removal)",
                ok,
                x -> x.r().terminationShare(),
                total,
                floor);
        seg(
                t,
                "old pod gone → replacement created (operator)",
                ok,
                x -> x.r().created() - x.r().oldGone(),
                total,
                floor);
        seg(
                t,
                "created → container running (scheduler, kubelet: sandbox, CNI, volumes, token, containerd)",
                ok,
                Run::podStart,
                total,
                floor);
        seg(
                t,
                "running → checkpoint load begins (JVM start, ND4J init, trainer set-up)",
                ok,
                Run::jvmStart,
                total,
                floor);
        seg(t, "checkpoint verify + load (trainer's own figure)", ok, Run::load, total, floor);
        seg(t, "loaded → first new step logged", ok, Run::firstStepCompute, total, floor);
        seg(
                t,
                "first step logged → progress report seen through the API",
                ok,
                Run::reportSeen,
                total,
                floor);
        seg(t, "**operator's own share**", ok, x -> x.r().operatorShare(), total, floor);
        seg(
                t,
                "**observed → all replacement pods created (a)**",
                ok,
                x -> x.r().created(),
                total,
                floor);
        seg(
                t,
                "**observed → trainer's first new step seen in the report ConfigMap (b)**",
                ok,
                x -> x.r().firstStep(),
                total,
                floor);
        t.note(
                String.format(
                        Locale.ROOT,
                        "Trainer: `--step-sleep-ms %d`, checkpoint interval %d steps, in a container on a real node; the preemption "
                                + "is the Eviction API (DisruptionTarget EvictionByEvictionAPI + graceful delete by the kubelet). Log timestamps (ms resolution) are mapped onto the benchmark's clock; "
                                + "segments from the trainer's log may not add up exactly.",
                        stepSleep,
                        interval));
        if (ok.size() < runs.size()) {
            t.note(
                    (runs.size() - ok.size())
                            + " preemption(s) left out: the watch did not deliver every event of their timeline.");
        }
        return t;
    }

    static Table lostWorkTable(
            List<Run> with, List<Run> without, int grace, int interval, int stepSleep) {
        Table t =
                new Table(
                        "Lost work per preemption (steps recomputed after the resume; ideal 0)",
                        "run",
                        "preemptions",
                        "lost steps p50 / p95 / max",
                        "mean",
                        "lost time (mean × step time)",
                        "vs ideal 0",
                        "vs no emergency checkpoint (mean)");
        Stats w =
                Stats.of(
                        with.stream()
                                .filter(r -> r.lost() >= 0)
                                .map(r -> (double) r.lost())
                                .toList());
        Stats wo =
                Stats.of(
                        without.stream()
                                .filter(r -> r.lost() >= 0)
                                .map(r -> (double) r.lost())
                                .toList());
        double stepS =
                Stats.of(concat(with, without).stream().map(Run::stepSeconds).toList()).p50();
        t.row(
                "SIGTERM emergency checkpoint (grace " + grace + " s)",
                w.n(),
                w.summary("%.0f"),
                fmt(w.mean()),
                fmtS(w.mean() * stepS),
                w.mean() == 0 ? "= ideal" : "+" + fmt(w.mean()) + " steps",
                Stats.pct(w.mean(), wo.mean()));
        t.row(
                "no emergency checkpoint (grace 1 s: no time for one)",
                wo.n(),
                wo.summary("%.0f"),
                fmt(wo.mean()),
                fmtS(wo.mean() * stepS),
                wo.mean() == 0 ? "= ideal" : "+" + fmt(wo.mean()) + " steps",
                "100%");
        t.note(
                String.format(
                        Locale.ROOT,
                        "Checkpoint interval %d steps; preemptions land at a random point of it, so without the emergency "
                                + "checkpoint the expectation is about (interval − 1) / 2 = %.1f steps. Steps reached = the step in the old pod's termination "
                                + "message; resumed = the new pods' PHOENIX_RESUME_STEP. Step time %.1f ms (measured from progress reports, incl. "
                                + "`--step-sleep-ms %d`).",
                        interval,
                        (interval - 1) / 2.0,
                        stepS * 1000,
                        stepSleep));
        return t;
    }

    private static List<Run> concat(List<Run> a, List<Run> b) {
        List<Run> l = new ArrayList<>(a);
        l.addAll(b);
        return l;
    }

    private static String fmt(double v) {
        return Double.isNaN(v) ? "n/a" : String.format(Locale.ROOT, "%.1f", v);
    }

    private static String fmtS(double s) {
        return Double.isNaN(s) ? "n/a" : String.format(Locale.ROOT, "%.2f s", s);
    }

    static void seg(
            Table t,
            String what,
            List<Run> rs,
            ToDoubleFunction<Run> f,
            double total,
            Stats floor) {
        List<Double> v = new ArrayList<>();
        for (Run r : rs) {
            v.add(f.applyAsDouble(r));
        }
        Stats s = Stats.of(v);
        t.row(
                what,
                Stats.ms(s.p50()),
                Stats.ms(s.p95()),
                Stats.ms(s.max()),
                Stats.pct(s.p50(), total),
                Stats.ratio(s.p50(), floor.p50()));
    }

    private static String containerLog(KubernetesClient client, Pod pod) {
        try {
            String l =
                    client.pods()
                            .inNamespace(pod.getMetadata().getNamespace())
                            .withName(pod.getMetadata().getName())
                            .inContainer("trainer")
                            .getLog();
            return l == null ? "" : l;
        } catch (RuntimeException e) {
            return "";
        }
    }

    private RealRecoveryBench() {}
}
