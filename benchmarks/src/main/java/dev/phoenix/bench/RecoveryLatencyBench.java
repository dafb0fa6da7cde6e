package dev.phoenix.bench;

import dev.phoenix.api.v1alpha1.TrainingJob;
import dev.phoenix.e2e.JobConfig;
import dev.phoenix.e2e.TrainingJobs;
import dev.phoenix.local.controlplane.KubernetesBinaries;
import dev.phoenix.local.disruption.ClusterDisruptions;
import dev.phoenix.operator.PhoenixOperator;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.micrometer.core.instrument.Timer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.ToDoubleFunction;

/**
 * Part 1a: recovery latency of the real operator on a real API server, pods simulated by KWOK
 * (graceful deletion finished at once), over {@code --preemptions} evictions (the Eviction API) of
 * a worker of a gang of {@code --replicas}. Baseline in the same run: the API server's watch
 * delivery latency.
 *
 * <pre>
 * java -cp … dev.phoenix.bench.RecoveryLatencyBench [--preemptions 50] [--replicas 2] [--watch-samples 100]
 * </pre>
 */
public final class RecoveryLatencyBench {
    public static void main(String[] args) throws Exception {
        Quiet.logging();
        Map<String, String> a = Args.parse(args);
        int preemptions = Args.integer(a, "preemptions", 50);
        int replicas = Args.integer(a, "replicas", 2);
        int watchSamples = Args.integer(a, "watch-samples", 100);
        BenchEnv.log("machine: %s", BenchEnv.machine());
        try (BenchEnv env = BenchEnv.start()) {
            String ns = env.namespace("bench-recovery");
            Stats floor = env.watchDelivery(ns, watchSamples);
            BenchEnv.log("watch delivery floor: p50 %.1f ms p95 %.1f ms", floor.p50(), floor.p95());

            KubernetesClient opClient = env.client(null);
            PhoenixOperator operator = env.operator(opClient);
            KubernetesClient client = env.client(null);
            env.kwok();
            try (PodRecorder rec = new PodRecorder(env.client(null), ns)) {
                JobConfig cfg =
                        new JobConfig(replicas, 1_000_000, 32, 32, 42, 0, 10, 3, 3, 100_000, 5);
                TrainingJob job =
                        TrainingJobs.job(ns, "rec", cfg, Path.of("/tmp/phoenix-bench/unused"));
                client.resource(job).create();
                ClusterDisruptions disruptions = new ClusterDisruptions(client);
                List<Recovery> rs = new ArrayList<>();
                int missing = 0;
                for (int attempt = 1; attempt <= preemptions; attempt++) {
                    final int at = attempt;
                    Waits.until(
                            60,
                            () ->
                                    rec.of("rec", at).size() == replicas
                                            && rec.of("rec", at).stream()
                                                    .allMatch(t -> t.running != 0)
                                            && "Running"
                                                    .equals(
                                                            TrainingJobs.phase(
                                                                    TrainingJobs.status(
                                                                            client, ns, "rec"))));
                    // The trainer's report of a checkpoint, so the gang resumes from a real step.
                    Reports.checkpoint(client, ns, "rec", 10L * attempt, attempt);
                    Waits.until(
                            30,
                            () -> {
                                var s = TrainingJobs.status(client, ns, "rec");
                                return s.getLatestCheckpoint() != null
                                        && s.getLatestCheckpoint().getStep() == 10L * at;
                            });
                    Thread.sleep(100);
                    var victim =
                            client.pods()
                                    .inNamespace(ns)
                                    .withName("rec-worker-" + (attempt % replicas))
                                    .require();
                    long issued = System.nanoTime();
                    disruptions.evict(victim);
                    Waits.until(60, () -> rec.of("rec", at + 1).size() == replicas);
                    Recovery r = Recovery.of(rec, "rec", attempt, replicas, issued, 0);
                    if (r == null) {
                        missing++;
                    } else {
                        rs.add(r);
                    }
                    if (attempt % 10 == 0) {
                        BenchEnv.log("%d preemptions done", attempt);
                    }
                }
                Timer own = operator.registry().find("phoenix.recovery.latency").timer();
                table(floor, rs, missing, replicas, own).print();
            }
        }
    }

    static Table table(Stats floor, List<Recovery> rs, int missing, int replicas, Timer own) {
        Table t =
                new Table(
                        String.format(
                                Locale.ROOT,
                                "Recovery latency, pods simulated: %d preemptions of a %d-pod gang (real kube-apiserver "
                                        + KubernetesBinaries.VERSION
                                        + " + etcd + scheduler, KWOK, in-process operator)",
                                rs.size(),
                                replicas),
                        "segment (watch events seen by the benchmark)",
                        "p50",
                        "p95",
                        "max",
                        "share of total (p50)",
                        "p50 ÷ watch floor p50");
        double total = Stats.of(Recovery.col(rs, Recovery::created)).p50();
        t.row(
                "**baseline**: watch delivery (create → own watch sees it), n=" + floor.n(),
                Stats.ms(floor.p50()),
                Stats.ms(floor.p95()),
                Stats.ms(floor.max()),
                "",
                "1×");
        seg(
                t,
                "eviction request issued → DisruptionTarget observed",
                rs,
                Recovery::issuedToObserved,
                total,
                floor);
        seg(t, "observed → whole gang deleted (operator)", rs, Recovery::gangDeleted, total, floor);
        seg(
                t,
                "gang deleted → all old pods gone (KWOK: grace finished at once)",
                rs,
                Recovery::terminationShare,
                total,
                floor);
        seg(
                t,
                "old pods gone → all replacement pods created (operator)",
                rs,
                r -> r.created() - r.oldGone(),
                total,
                floor);
        seg(
                t,
                "**operator's own share** (sum of the two operator segments)",
                rs,
                Recovery::operatorShare,
                total,
                floor);
        seg(
                t,
                "**observed → all replacement pods created (a)**",
                rs,
                Recovery::created,
                total,
                floor);
        if (own != null && own.count() > 0) {
            t.note(
                    String.format(
                            Locale.ROOT,
                            "The operator's own `phoenix_recovery_latency_seconds` (end of attempt recorded in status → replacement gang "
                                    + "created) over the same run: n=%d, mean %.0f ms, max %.0f ms.",
                            own.count(),
                            own.mean(TimeUnit.MILLISECONDS),
                            own.max(TimeUnit.MILLISECONDS)));
        }
        if (missing > 0) {
            t.note(
                    missing
                            + " preemption(s) left out: the watch did not deliver every event of their timeline.");
        }
        return t;
    }

    static void seg(
            Table t,
            String what,
            List<Recovery> rs,
            ToDoubleFunction<Recovery> f,
            double total,
            Stats floor) {
        Stats s = Stats.of(Recovery.col(rs, f));
        t.row(
                what,
                Stats.ms(s.p50()),
                Stats.ms(s.p95()),
                Stats.ms(s.max()),
                Stats.pct(s.p50(), total),
                Stats.ratio(s.p50(), floor.p50()));
    }

    private RecoveryLatencyBench() {}
}
