package dev.phoenix.bench;

import dev.phoenix.trainer.StopSignal;
import dev.phoenix.trainer.Trainer;
import dev.phoenix.trainer.bench.TrainerBenchmark;
import dev.phoenix.trainer.checkpoint.CheckpointReader;
import dev.phoenix.trainer.checkpoint.CheckpointStore;
import dev.phoenix.trainer.checkpoint.CheckpointWriter;
import dev.phoenix.trainer.checkpoint.NonTensorState;
import dev.phoenix.trainer.config.TrainerConfig;
import dev.phoenix.trainer.model.ModelSpec;
import dev.phoenix.trainer.model.TrainingState;
import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import picocli.CommandLine;

/**
 * Part 4: checkpoint cost. (1) The trainer's own benchmark ({@link TrainerBenchmark}, owned by the
 * trainer module): save/load time and throughput against the disk's sequential write/read measured
 * in the same run; its table is re-emitted here. (2) What it adds: the training slow-down from
 * checkpointing at the default interval (100 steps) — the real {@link Trainer} loop, in this JVM,
 * run alternately with {@code --checkpoint-interval 100} and {@code 0} (only the final checkpoint,
 * which both runs write).
 *
 * <pre>
 * java -cp … dev.phoenix.bench.CheckpointCostBench [--dir target/bench] [--disk-mb 512] [--run-seconds 6] [--reps 3]
 * </pre>
 */
public final class CheckpointCostBench {
    public static void main(String[] args) throws Exception {
        Quiet.logging();
        Map<String, String> a = Args.parse(args);
        Path dir = Path.of(Args.string(a, "dir", "target/bench")).toAbsolutePath();
        int diskMb = Args.integer(a, "disk-mb", 512);
        double runSeconds = Args.integer(a, "run-seconds", 6);
        int reps = Args.integer(a, "reps", 3);
        Files.createDirectories(dir);
        BenchEnv.log("machine: %s; checkpoint directory %s", BenchEnv.machine(), dir);

        trainerBenchmark(dir, diskMb).print();

        Table t =
                new Table(
                        "Training slow-down from checkpointing at the default interval (100 steps)",
                        "model (params)",
                        "steps/run",
                        "training without periodic checkpoints",
                        "with one every 100 steps",
                        "measured slow-down (best of " + reps + ")",
                        "one checkpoint: save + re-verify (direct, best of 3)",
                        "predicted slow-down: checkpoint ÷ 100 steps");
        slowdown(t, dir, "64,256,2,128", runSeconds, reps, true); // the trainer's defaults
        slowdown(
                t,
                dir,
                "784,1024,2,256",
                runSeconds,
                reps,
                false); // TrainerBenchmark's default model: prediction only
        t.note(
                "Measured: the real Trainer loop in this JVM, runs alternating `--checkpoint-interval 100` and `0`; both write the final "
                        + "checkpoint, so the difference is the periodic ones (write + fsync of every file, SHA-256, rename, re-verification, "
                        + "retention; no report ConfigMap). Predicted: one save + re-verify of that model's full state (CheckpointWriter/Reader "
                        + "directly) ÷ the time of 100 steps measured without checkpoints. On a shared 2-vCPU machine run-to-run noise is several "
                        + "per cent, so the prediction is the steadier figure; the larger model is predicted only (a measured pair takes minutes).");
        t.print();
    }

    /** Runs TrainerBenchmark in this JVM and turns its Markdown table into one of ours. */
    static Table trainerBenchmark(Path dir, int diskMb) {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        PrintStream orig = System.out;
        PrintStream tee =
                new PrintStream(
                        new OutputStream() {
                            @Override
                            public void write(int b) {
                                buf.write(b);
                                orig.write(b);
                            }

                            @Override
                            public void write(byte[] b, int off, int len) {
                                buf.write(b, off, len);
                                orig.write(b, off, len);
                            }
                        },
                        true,
                        StandardCharsets.UTF_8);
        int code;
        System.setOut(tee);
        try {
            code =
                    new CommandLine(new TrainerBenchmark())
                            .execute(
                                    "--dir",
                                    dir.resolve("trainer-benchmark").toString(),
                                    "--disk-mb",
                                    Integer.toString(diskMb),
                                    "--steps",
                                    "20");
        } finally {
            System.setOut(orig);
        }
        Table t =
                new Table(
                        "Checkpoint save/load vs the disk's sequential write/read (dev.phoenix.trainer.bench.TrainerBenchmark, same run)",
                        "measurement",
                        "value",
                        "reference",
                        "ratio");
        for (String line : buf.toString(StandardCharsets.UTF_8).split("\n")) {
            line = line.strip();
            if (line.startsWith("| ")
                    && !line.startsWith("| measurement")
                    && !line.startsWith("|---")) {
                String[] cells = line.substring(1, line.length() - 1).split(" \\| ", -1);
                if (cells.length == 4) {
                    t.row(cells[0].strip(), cells[1].strip(), cells[2].strip(), cells[3].strip());
                }
            }
        }
        if (code != 0 || t.size() == 0) {
            t.note(
                    "TrainerBenchmark exited "
                            + code
                            + " and printed no table: see the output above.");
        }
        return t;
    }

    static void slowdown(
            Table t, Path dir, String shape, double runSeconds, int reps, boolean measure)
            throws Exception {
        String[] s = shape.split(",");
        int in = Integer.parseInt(s[0]);
        int hidden = Integer.parseInt(s[1]);
        int layers = Integer.parseInt(s[2]);
        int batch = Integer.parseInt(s[3]);
        List<String> model =
                List.of("--input", s[0], "--hidden", s[1], "--layers", s[2], "--batch", s[3]);
        run(dir, model, 30, 0); // warm-up (JIT, ND4J)
        double probe = run(dir, model, 100, 0) / 100;
        long steps = Math.max(300, Math.min(3000, Math.round(runSeconds / probe / 100) * 100));
        double without = Double.NaN;
        double with = Double.NaN;
        double stepSeconds = probe;
        if (measure) {
            without = Double.MAX_VALUE;
            with = Double.MAX_VALUE;
            for (int i = 0; i < reps; i++) {
                without = Math.min(without, run(dir, model, steps, 0));
                with = Math.min(with, run(dir, model, steps, 100));
            }
            stepSeconds = without / steps;
        }
        double ckpt = checkpointSeconds(dir, new ModelSpec(in, hidden, layers, 10), batch);
        long params = paramCount(in, hidden, layers, 10);
        t.row(
                String.format(
                        Locale.ROOT,
                        "%s×%s×%s layers, batch %s (%.2f M)",
                        s[0],
                        s[1],
                        s[2],
                        s[3],
                        params / 1e6),
                measure ? Long.toString(steps) : "",
                measure
                        ? String.format(
                                Locale.ROOT,
                                "%.2f s (%.1f ms/step)",
                                without,
                                1000 * without / steps)
                        : String.format(Locale.ROOT, "%.1f ms/step", 1000 * probe),
                measure ? String.format(Locale.ROOT, "%.2f s", with) : "",
                measure ? Stats.pct(with - without, without) : "",
                String.format(Locale.ROOT, "%.0f ms", ckpt * 1000),
                Stats.pct(ckpt, stepSeconds * 100));
        BenchEnv.log(
                "%s: step %.1f ms, checkpoint %.0f ms; %d steps: %.2f s without, %.2f s with",
                shape, stepSeconds * 1000, ckpt * 1000, steps, without, with);
    }

    /**
     * Best of 3: save (write, fsync, SHA-256, rename) + re-verify of a full training state, as the
     * trainer does each interval.
     */
    static double checkpointSeconds(Path dir, ModelSpec spec, int batch) throws Exception {
        long step = 100;
        TrainerBenchmark.Sample sample = TrainerBenchmark.Sample.of(spec, step, batch);
        TrainingState st = sample.state();
        NonTensorState meta = sample.meta();
        CheckpointStore store = new CheckpointStore(dir.resolve("direct-" + spec));
        CheckpointWriter writer = new CheckpointWriter();
        CheckpointReader reader = new CheckpointReader();
        double best = Double.MAX_VALUE;
        for (int i = 0; i < 3; i++) {
            CheckpointWriter.Saved saved = writer.save(store, st, meta, 1, "bench", 1, "bench");
            double v = reader.verify(store, step, spec).seconds();
            best = Math.min(best, saved.seconds() + v);
            CheckpointStore.deleteTree(store.root());
        }
        return best;
    }

    static long paramCount(int in, int hidden, int layers, int classes) {
        long p = (long) in * hidden + hidden;
        for (int i = 1; i < layers; i++) {
            p += (long) hidden * hidden + hidden;
        }
        return p + (long) hidden * classes + classes;
    }

    /** One in-process trainer run from scratch; returns wall seconds. */
    static double run(Path dir, List<String> model, long steps, long interval) throws Exception {
        Path ckpt = dir.resolve("slowdown-ckpt");
        if (Files.exists(ckpt)) {
            CheckpointStore.deleteTree(ckpt);
        }
        List<String> args = new ArrayList<>(model);
        args.addAll(
                List.of(
                        "--steps",
                        Long.toString(steps),
                        "--checkpoint-interval",
                        Long.toString(interval),
                        "--checkpoint-dir",
                        ckpt.toString(),
                        "--termination-log",
                        dir.resolve("termination-log").toString(),
                        "--warmup-steps",
                        "1",
                        "--log-interval-seconds",
                        "3600"));
        TrainerConfig cfg = TrainerConfig.parse(Map.of(), args.toArray(String[]::new));
        cfg.validate();
        long t0 = System.nanoTime();
        int code = new Trainer(cfg, new StopSignal()).run();
        double s = (System.nanoTime() - t0) / 1e9;
        if (code != 0) {
            throw new IllegalStateException("trainer exited " + code);
        }
        return s;
    }

    private CheckpointCostBench() {}
}
