package dev.phoenix.trainer.bench;

import com.sun.nio.file.ExtendedOpenOption;
import dev.phoenix.trainer.checkpoint.CheckpointReader;
import dev.phoenix.trainer.checkpoint.CheckpointStore;
import dev.phoenix.trainer.checkpoint.CheckpointWriter;
import dev.phoenix.trainer.checkpoint.NonTensorState;
import dev.phoenix.trainer.checkpoint.StateDigest;
import dev.phoenix.trainer.data.SyntheticData;
import dev.phoenix.trainer.model.Mlp;
import dev.phoenix.trainer.model.ModelSpec;
import dev.phoenix.trainer.model.TrainingState;
import dev.phoenix.trainer.optim.AdamW;
import dev.phoenix.trainer.optim.LrSchedule;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Not a test: measures the training step against the machine's ND4J matrix-multiply peak, and
 * checkpoint save/load against the disk's sequential write/read speed, all in the same run, and
 * prints a table.
 */
@Command(name = "trainer-benchmark", mixinStandardHelpOptions = true)
public final class TrainerBenchmark implements Callable<Integer> {
    @Option(names = "--input", defaultValue = "784")
    int input;

    @Option(names = "--hidden", defaultValue = "1024")
    int hidden;

    @Option(names = "--layers", defaultValue = "2")
    int layers;

    @Option(names = "--classes", defaultValue = "10")
    int classes;

    @Option(names = "--batch", defaultValue = "256")
    int batch;

    @Option(
            names = "--steps",
            defaultValue = "30",
            description = "Timed training steps (after 5 warm-up steps).")
    int steps;

    @Option(
            names = "--large-hidden",
            defaultValue = "4096",
            description = "Hidden width of the larger state used for checkpoint throughput.")
    int largeHidden;

    @Option(names = "--gemm-sizes", split = ",", defaultValue = "512,1024,2048")
    int[] gemmSizes;

    @Option(
            names = "--disk-mb",
            defaultValue = "1024",
            description = "Size of the sequential disk test file.")
    int diskMb;

    @Option(
            names = "--dir",
            defaultValue = "target/bench",
            description = "Directory on the disk to measure.")
    Path dir;

    @Option(
            names = "--skip-io",
            description = "Only the matrix-multiply peak and the training step.")
    boolean skipIo;

    private final List<String[]> rows = new ArrayList<>();

    public static void main(String[] args) {
        System.exit(new CommandLine(new TrainerBenchmark()).execute(args));
    }

    @Override
    public Integer call() throws Exception {
        Files.createDirectories(dir);
        var env = Nd4j.getExecutioner().getEnvironmentInformation();
        System.out.printf(
                Locale.ROOT,
                "ND4J %s, BLAS %s, omp threads %s, cores %s; OMP_NUM_THREADS=%s OPENBLAS_CORETYPE=%s%n",
                Nd4j.getBackend().getClass().getSimpleName(),
                env.get("blas.vendor"),
                env.get("omp.threads"),
                env.get("cores"),
                System.getenv("OMP_NUM_THREADS"),
                System.getenv("OPENBLAS_CORETYPE"));

        double peak = gemmPeak();
        trainingStep(peak);
        if (!skipIo) {
            double[] disk = disk();
            checkpoints(new ModelSpec(input, hidden, layers, classes), disk);
            checkpoints(new ModelSpec(input, largeHidden, layers, classes), disk);
            sha256Speed();
        }

        System.out.println();
        System.out.println("| measurement | value | reference | ratio |");
        System.out.println("|---|---|---|---|");
        for (String[] r : rows) {
            System.out.println("| " + String.join(" | ", r) + " |");
        }
        return 0;
    }

    private void row(String what, String value, String ref, String ratio) {
        rows.add(new String[] {what, value, ref, ratio});
        System.out.println(
                what + ": " + value + (ref.isEmpty() ? "" : " (vs " + ref + ": " + ratio + ")"));
    }

    private double gemmPeak() {
        double best = 0;
        for (int n : gemmSizes) {
            INDArray a = Nd4j.rand(DataType.FLOAT, n, n);
            INDArray b = Nd4j.rand(DataType.FLOAT, n, n);
            INDArray c = Nd4j.zeros(DataType.FLOAT, n, n);
            int reps = Math.max(3, (int) (2e10 / (2.0 * n * n * n)));
            Nd4j.gemm(a, b, c, false, false, 1.0, 0.0);
            double bestT = Double.MAX_VALUE;
            for (int i = 0; i < reps; i++) {
                long t0 = System.nanoTime();
                Nd4j.gemm(a, b, c, false, false, 1.0, 0.0);
                bestT = Math.min(bestT, (System.nanoTime() - t0) / 1e9);
            }
            double flops = 2.0 * n * n * n / bestT;
            row("sgemm " + n + "x" + n + " (best of " + reps + ")", gflops(flops), "", "");
            best = Math.max(best, flops);
        }
        row("**matrix-multiply peak** (max of the above)", gflops(best), "", "");
        return best;
    }

    private void trainingStep(double peak) {
        ModelSpec spec = new ModelSpec(input, hidden, layers, classes);
        TrainingState s = TrainingState.fresh(spec, 1);
        SyntheticData data = new SyntheticData(1, spec);
        AdamW adam = new AdamW(0.9, 0.999, 1e-8, 0.01);
        LrSchedule sched = new LrSchedule(1e-3, 1e-4, 10, 1000);
        // FLOPs of one step: forward 2*B*sum(in*out), weight gradients the same, input gradients
        // for layers > 0.
        double flops = 0;
        for (int l = 0; l < spec.weightLayers(); l++) {
            double mm = 2.0 * batch * spec.fanIn(l) * spec.fanOut(l);
            flops += l == 0 ? 2 * mm : 3 * mm;
        }
        SyntheticData.Batch fixed = data.batch(0, batch, 0, batch);
        for (int i = 0; i < 5; i++) {
            step(spec, s, data.batch(s.step(), batch, 0, batch), adam, sched);
        }
        double[] full = new double[2];
        double[] compute = new double[2];
        double[] dataOnly = new double[2];
        time(full, () -> step(spec, s, data.batch(s.step(), batch, 0, batch), adam, sched));
        time(compute, () -> step(spec, s, fixed, adam, sched));
        time(dataOnly, () -> data.batch(s.step(), batch, 0, batch));
        String model = spec + " batch " + batch;
        stepRow("training step " + model + " incl. data generation", full, flops, peak);
        stepRow("training step " + model + " compute only (fwd+bwd+AdamW)", compute, flops, peak);
        row(
                "synthetic data generation alone (teacher net, " + batch + " samples)",
                String.format(
                        Locale.ROOT,
                        "mean %.1f ms, best %.1f ms",
                        dataOnly[0] * 1e3,
                        dataOnly[1] * 1e3),
                "",
                "");
    }

    /** Mean and best (min) seconds per call over --steps calls. */
    private void time(double[] out, Runnable r) {
        double best = Double.MAX_VALUE;
        long t0 = System.nanoTime();
        for (int i = 0; i < steps; i++) {
            long a = System.nanoTime();
            r.run();
            best = Math.min(best, (System.nanoTime() - a) / 1e9);
        }
        out[0] = (System.nanoTime() - t0) / 1e9 / steps;
        out[1] = best;
    }

    private void stepRow(String what, double[] t, double flops, double peak) {
        row(
                what + " (mean)",
                String.format(
                        Locale.ROOT,
                        "%.2f steps/s (%.1f ms), %s",
                        1 / t[0],
                        t[0] * 1e3,
                        gflops(flops / t[0])),
                "peak " + gflops(peak),
                pct(flops / t[0] / peak));
        row(
                what + " (best step)",
                String.format(
                        Locale.ROOT,
                        "%.2f steps/s (%.1f ms), %s",
                        1 / t[1],
                        t[1] * 1e3,
                        gflops(flops / t[1])),
                "peak " + gflops(peak),
                pct(flops / t[1] / peak));
    }

    private static void step(
            ModelSpec spec, TrainingState s, SyntheticData.Batch b, AdamW adam, LrSchedule sched) {
        Mlp.Result r = Mlp.lossAndGradients(spec, s.params(), b, b.labels().length);
        adam.apply(
                s.params(),
                r.gradients(),
                s.firstMoments(),
                s.secondMoments(),
                s.step() + 1,
                sched.at(s.step()));
        s.advance();
    }

    /** Sequential write (+fsync) and read of a big file; returns {writeMBps, coldReadMBps}. */
    private double[] disk() throws IOException {
        Path f = dir.resolve("disk-test.bin");
        Files.deleteIfExists(f);
        int chunk = 8 << 20;
        ByteBuffer buf = ByteBuffer.allocateDirect(chunk + 4096).alignedSlice(4096);
        buf.limit(chunk);
        while (buf.hasRemaining()) {
            buf.putLong(System.nanoTime() * 0x9e3779b97f4a7c15L);
        }
        long total = (long) diskMb << 20;
        long t0 = System.nanoTime();
        try (FileChannel ch =
                FileChannel.open(f, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            for (long w = 0; w < total; w += chunk) {
                buf.clear().limit(chunk);
                while (buf.hasRemaining()) {
                    ch.write(buf);
                }
            }
            ch.force(true);
        }
        double write = total / 1e6 / ((System.nanoTime() - t0) / 1e9);
        row("disk sequential write + fsync (" + diskMb + " MiB)", mbps(write), "", "");

        String coldHow = "O_DIRECT, bypasses the page cache";
        double cold;
        try {
            cold = readAll(f, buf, chunk, true);
        } catch (IOException | UnsupportedOperationException e) {
            coldHow =
                    "O_DIRECT unavailable ("
                            + e.getClass().getSimpleName()
                            + "): page cache NOT dropped";
            cold = readAll(f, buf, chunk, false);
        }
        row("disk sequential read (" + coldHow + ")", mbps(cold), "", "");
        double hot = readAll(f, buf, chunk, false);
        row("file read through the page cache (hot)", mbps(hot), "", "");
        Files.deleteIfExists(f);
        return new double[] {write, cold, hot};
    }

    private static double readAll(Path f, ByteBuffer buf, int chunk, boolean direct)
            throws IOException {
        long t0 = System.nanoTime();
        long n = 0;
        try (FileChannel ch =
                direct
                        ? FileChannel.open(f, StandardOpenOption.READ, ExtendedOpenOption.DIRECT)
                        : FileChannel.open(f, StandardOpenOption.READ)) {
            while (true) {
                buf.clear().limit(chunk);
                int r = ch.read(buf);
                if (r <= 0) {
                    break;
                }
                n += r;
            }
        }
        return n / 1e6 / ((System.nanoTime() - t0) / 1e9);
    }

    /**
     * A full training state (seed 3) at {@code step} and its non-tensor part, as the trainer
     * checkpoints them.
     */
    public record Sample(TrainingState state, NonTensorState meta) {
        public static Sample of(ModelSpec spec, long step, int batch) {
            TrainingState st =
                    TrainingState.of(spec, 3, step, TrainingState.fresh(spec, 3).tensors());
            NonTensorState meta =
                    new NonTensorState(
                            step,
                            new NonTensorState.Model(
                                    "mlp-relu-softmax",
                                    spec.input(),
                                    spec.hidden(),
                                    spec.layers(),
                                    spec.classes()),
                            new NonTensorState.Optimizer("adamw", 0.9, 0.999, 1e-8, 0.01, step),
                            new NonTensorState.Schedule(
                                    LrSchedule.TYPE, 1e-3, 1e-4, 10, 1000, step),
                            new NonTensorState.Data(SyntheticData.GENERATOR, 3, step, batch),
                            new NonTensorState.Rng("counter-splitmix64", 3, step));
            return new Sample(st, meta);
        }
    }

    private void checkpoints(ModelSpec spec, double[] disk) throws Exception {
        long step = 7;
        Sample sample = Sample.of(spec, step, batch);
        TrainingState st = sample.state();
        NonTensorState meta = sample.meta();
        CheckpointStore store = new CheckpointStore(dir.resolve("ckpt-" + spec));
        CheckpointWriter writer = new CheckpointWriter();
        CheckpointReader reader = new CheckpointReader();
        double bestSave = Double.MAX_VALUE;
        double bestLoad = Double.MAX_VALUE;
        double bestVerify = Double.MAX_VALUE;
        long bytes = 0;
        for (int i = 0; i < 3; i++) {
            CheckpointWriter.Saved saved = writer.save(store, st, meta, 1, "bench", 1, "bench");
            bytes = saved.bytes();
            bestSave = Math.min(bestSave, saved.seconds());
            bestVerify = Math.min(bestVerify, reader.verify(store, step, spec).seconds());
            bestLoad = Math.min(bestLoad, reader.load(store, step, spec).seconds());
        }
        CheckpointStore.deleteTree(store.root());
        String what = String.format(Locale.ROOT, "checkpoint %s (%.1f MB)", spec, bytes / 1e6);
        double save = bytes / 1e6 / bestSave;
        double load = bytes / 1e6 / bestLoad;
        row(
                what + " save (write+fsync+SHA-256+rename)",
                        String.format(Locale.ROOT, "%.3f s, %s", bestSave, mbps(save)),
                "disk write " + mbps(disk[0]), pct(save / disk[0]));
        row(
                what + " verify (read+SHA-256, page cache hot)",
                String.format(
                        Locale.ROOT, "%.3f s, %s", bestVerify, mbps(bytes / 1e6 / bestVerify)),
                "hot read " + mbps(disk[2]),
                pct(bytes / 1e6 / bestVerify / disk[2]));
        row(
                what + " load (verify+materialise, page cache hot)",
                        String.format(Locale.ROOT, "%.3f s, %s", bestLoad, mbps(load)),
                "cold disk read " + mbps(disk[1]), pct(load / disk[1]));
    }

    private void sha256Speed() throws Exception {
        byte[] b = new byte[64 << 20];
        MessageDigest md = StateDigest.sha256();
        md.update(b);
        long t0 = System.nanoTime();
        for (int i = 0; i < 3; i++) {
            md.update(b);
        }
        md.digest();
        row(
                "SHA-256 (JDK MessageDigest, one core)",
                mbps(3 * b.length / 1e6 / ((System.nanoTime() - t0) / 1e9)),
                "",
                "");
    }

    private static String gflops(double f) {
        return String.format(Locale.ROOT, "%.1f GFLOP/s", f / 1e9);
    }

    private static String mbps(double v) {
        return String.format(Locale.ROOT, "%.0f MB/s", v);
    }

    private static String pct(double r) {
        return String.format(Locale.ROOT, "%.0f%%", r * 100);
    }
}
