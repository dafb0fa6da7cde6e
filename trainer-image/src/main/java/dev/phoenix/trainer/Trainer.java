package dev.phoenix.trainer;

import com.fasterxml.jackson.databind.JsonNode;
import dev.phoenix.trainer.checkpoint.CheckpointException;
import dev.phoenix.trainer.checkpoint.CheckpointReader;
import dev.phoenix.trainer.checkpoint.CheckpointStore;
import dev.phoenix.trainer.checkpoint.CheckpointWriter;
import dev.phoenix.trainer.checkpoint.Inventory;
import dev.phoenix.trainer.checkpoint.Json;
import dev.phoenix.trainer.checkpoint.NonTensorState;
import dev.phoenix.trainer.config.TrainerConfig;
import dev.phoenix.trainer.data.SyntheticData;
import dev.phoenix.trainer.dist.Collective;
import dev.phoenix.trainer.dist.TcpCollective;
import dev.phoenix.trainer.model.Mlp;
import dev.phoenix.trainer.model.ModelSpec;
import dev.phoenix.trainer.model.TrainingState;
import dev.phoenix.trainer.optim.AdamW;
import dev.phoenix.trainer.optim.LrSchedule;
import dev.phoenix.trainer.report.ConfigMapStore;
import dev.phoenix.trainer.report.Fabric8ConfigMapStore;
import dev.phoenix.trainer.report.Reporter;
import dev.phoenix.trainer.report.Reports;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** One trainer process: resume or start, train, checkpoint, report, stop. */
public final class Trainer {
    private static final Logger log = LoggerFactory.getLogger(Trainer.class);

    private final TrainerConfig cfg;
    private final StopSignal stop;
    private final ModelSpec spec;
    private final LrSchedule schedule;
    private final AdamW adam;
    private final boolean root;
    private final CheckpointStore store;
    private final CheckpointWriter writer = new CheckpointWriter();
    private final CheckpointReader reader = new CheckpointReader();
    private final Inventory inventory;
    private Reporter reporter;
    private Collective collective;
    private TrainingState state;
    private SyntheticData data;
    private long resumedFrom;
    private Reports.CheckpointReport lastCheckpoint;
    private double lastSaveSeconds = -1;
    private String backend = "unknown";

    private final ConfigMapStore reportStore;

    public Trainer(TrainerConfig cfg, StopSignal stop) {
        this(cfg, stop, null);
    }

    /**
     * @param reportStore where reports go instead of the ConfigMap named by the config (tests);
     *     null = that one
     */
    Trainer(TrainerConfig cfg, StopSignal stop, ConfigMapStore reportStore) {
        this.reportStore = reportStore;
        this.cfg = cfg;
        this.stop = stop;
        this.spec = cfg.modelSpec();
        this.schedule = new LrSchedule(cfg.lr, cfg.minLr, cfg.warmupSteps, cfg.steps);
        this.adam = new AdamW(cfg.beta1, cfg.beta2, cfg.eps, cfg.weightDecay);
        this.root = cfg.rank == 0;
        this.store = new CheckpointStore(cfg.checkpointDir);
        this.inventory = new Inventory(store, reader, spec);
    }

    /** Termination result of a rank whose collective broke because a peer vanished (exit 1). */
    static final String RESULT_PEER_LOST = "PeerLost";

    private static boolean causedBy(Throwable e, Class<? extends Throwable> type) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (type.isInstance(t)) {
                return true;
            }
        }
        return false;
    }

    /**
     * Why rank 0 will not start: {@code result} goes into the termination message the operator
     * reads.
     */
    record Refusal(String result, long step, String message) {}

    /**
     * Runs to the end and returns the exit code; the termination message is written before
     * returning.
     */
    public int run() {
        try {
            return runUnchecked();
        } catch (Exception | Error e) {
            log.error("trainer failed", e);
            // A broken collective is the peer's fate, not this program's: say so, the operator
            // decides what it was.
            String result = causedBy(e, TcpCollective.PeerLost.class) ? RESULT_PEER_LOST : "Failed";
            terminate(
                    new Reports.Termination(
                            result,
                            state == null ? null : state.step(),
                            null,
                            null,
                            String.valueOf(e)));
            return ExitCodes.FAILED;
        } finally {
            if (reporter != null) {
                reporter.close();
            }
            if (collective != null) {
                collective.close();
            }
        }
    }

    private int runUnchecked() throws Exception {
        logEnvironment();
        if (cfg.worldSize > 1) {
            try {
                collective =
                        TcpCollective.connect(
                                cfg.rank,
                                cfg.worldSize,
                                cfg.masterAddr,
                                cfg.masterPort,
                                cfg.jobName,
                                cfg.attempt,
                                Duration.ofSeconds(cfg.rendezvousTimeoutSeconds),
                                Duration.ofSeconds(cfg.collectiveTimeoutSeconds),
                                stop::requested);
            } catch (TcpCollective.Cancelled e) {
                return stoppedBeforeTraining();
            }
        }
        if (collective == null && stop.requested()) {
            return stoppedBeforeTraining();
        }
        if (root && cfg.reportConfigMap != null && !cfg.reportConfigMap.isBlank()) {
            reporter =
                    new Reporter(
                            reportStore != null
                                    ? reportStore
                                    : new Fabric8ConfigMapStore(cfg.namespace, cfg.reportConfigMap),
                            Duration.ofMillis((long) (cfg.progressIntervalSeconds * 1000)));
        }

        // 1. Start or resume; rank 0 decides and hands the state to the others.
        Refusal failure = root ? initialiseRoot() : null;
        if (collective != null) {
            String status =
                    Json.write(
                            failure == null
                                    ? Map.of("ok", true)
                                    : Map.of(
                                            "ok",
                                            false,
                                            "result",
                                            failure.result(),
                                            "step",
                                            failure.step(),
                                            "message",
                                            failure.message()));
            JsonNode agreed =
                    Json.CANONICAL.readTree(
                            collective.broadcast(status.getBytes(StandardCharsets.UTF_8)));
            if (!agreed.path("ok").asBoolean()) {
                failure =
                        new Refusal(
                                agreed.path("result").asText("CheckpointInvalid"),
                                agreed.path("step").asLong(cfg.resumeStep),
                                agreed.path("message").asText());
            } else {
                byte[] encoded = collective.broadcast(root ? encode(state) : new byte[0]);
                if (!root) {
                    state = decode(encoded);
                    resumedFrom = state.step();
                }
            }
        }
        if (failure != null) {
            log.error("cannot start from step {}: {}", failure.step(), failure.message());
            terminate(
                    new Reports.Termination(
                            failure.result(), failure.step(), null, null, failure.message()));
            return ExitCodes.CHECKPOINT_INVALID;
        }
        data = new SyntheticData(state.seed(), spec);
        // A SIGTERM during start-up (loading, rendezvous) is honoured before the first step; every
        // rank agrees.
        boolean stopNow = stop.requested();
        if (collective != null) {
            stopNow = collective.allReduce(new float[0], 0, stopNow).stop();
        }
        if (stopNow) {
            return stoppedBeforeTraining();
        }

        // 2. Train.
        boolean stopped = false;
        try {
            stopped = trainLoop();
        } catch (IOException e) {
            if (collective == null || !stop.requested()) {
                throw e;
            }
            log.warn(
                    "gang lost during shutdown ({}); state is consistent at step {}",
                    e.toString(),
                    state.step());
            stopped = true;
        }

        // 3. Finish.
        if (!stopped && state.step() >= cfg.steps) {
            if (!root) {
                return awaitRootVerdict(ExitCodes.SUCCEEDED);
            }
            if (lastCheckpoint == null || lastCheckpoint.step() != state.step()) {
                saveCheckpoint("final", Duration.ofSeconds(30));
            } else if (reporter != null) {
                reporter.reportCheckpoint(lastCheckpoint, Duration.ofSeconds(30));
            }
            System.out.println(
                    "final step " + state.step() + " stateDigest " + lastCheckpoint.stateDigest());
            Reports.Termination t =
                    new Reports.Termination(
                            "Succeeded",
                            state.step(),
                            lastCheckpoint.stateDigest(),
                            lastCheckpoint.digest(),
                            null);
            broadcastVerdict(Json.write(t));
            terminate(t);
            return ExitCodes.SUCCEEDED;
        }
        if (!root) {
            return awaitRootVerdict(ExitCodes.TERMINATED);
        }
        Reports.CheckpointReport emergency = emergencyCheckpoint();
        String message =
                emergency != null
                        ? Json.write(emergency.withResult("Terminated"))
                        : Json.write(
                                new Reports.Termination(
                                        "Terminated", state.step(), null, null, null));
        broadcastVerdict(message);
        TerminationLog.write(cfg.terminationLog, message);
        return ExitCodes.TERMINATED;
    }

    /**
     * SIGTERM before the first step: nothing to save (the state is the one resumed from); exit 143.
     */
    private int stoppedBeforeTraining() {
        log.warn("{} received before training began: exiting without training", stop.reason());
        Reports.Termination t =
                lastCheckpoint != null
                        ? null
                        : new Reports.Termination(
                                "Terminated",
                                cfg.resuming() ? cfg.resumeStep : 0L,
                                null,
                                null,
                                "stopped before training began");
        String message =
                t == null ? Json.write(lastCheckpoint.withResult("Terminated")) : Json.write(t);
        if (collective != null) {
            if (!root) {
                return awaitRootVerdict(ExitCodes.TERMINATED);
            }
            broadcastVerdict(message);
        }
        TerminationLog.write(cfg.terminationLog, message);
        return ExitCodes.TERMINATED;
    }

    /**
     * Rank 0: refuses a directory that holds another job's checkpoints or a step beyond --steps,
     * verifies and loads the resume checkpoint (or builds a fresh state), then moves newer dirs
     * aside and reports what is left on disk.
     */
    private Refusal initialiseRoot() throws IOException {
        Optional<String> foreign = store.foreignOwner(cfg.jobUid);
        if (foreign.isPresent()) {
            return new Refusal(
                    "CheckpointDirectoryInUse",
                    Math.max(0, cfg.resumeStep),
                    "checkpoint directory "
                            + store.root()
                            + " holds another job's checkpoints: "
                            + foreign.get()
                            + "; this is job "
                            + cfg.jobRef()
                            + " (uid "
                            + cfg.jobUid
                            + "). One checkpoint directory per job: give this job its own path.");
        }
        if (cfg.resumeStep > cfg.steps) {
            return new Refusal(
                    "CheckpointInvalid",
                    cfg.resumeStep,
                    "resume step "
                            + cfg.resumeStep
                            + " is beyond the "
                            + "job's total steps (--steps "
                            + cfg.steps
                            + "): no such checkpoint can exist");
        }
        CheckpointReader.Loaded adopted = cfg.resumeExact ? null : newerOfThisTimeline();
        long from = adopted != null ? adopted.manifest().step() : Math.max(0, cfg.resumeStep);
        if (from > 0) {
            CheckpointReader.Loaded loaded = adopted;
            if (loaded == null) {
                try {
                    loaded = reader.load(store, from, spec);
                } catch (CheckpointException e) {
                    return new Refusal("CheckpointInvalid", from, e.getMessage());
                }
            }
            inventory.verified(from, loaded);
            NonTensorState saved = loaded.manifest().state();
            long seed = saved.data().seed();
            if (seed != cfg.seed) {
                log.warn(
                        "checkpoint seed {} differs from --seed {}; continuing with the checkpoint's seed",
                        seed,
                        cfg.seed);
            }
            state = TrainingState.of(spec, seed, from, loaded.tensors());
            NonTensorState expected = meta(from);
            if (!Json.write(expected).equals(Json.write(saved))) {
                log.warn(
                        "configuration differs from the checkpoint's; continuing with the configuration. checkpoint: {} configured: {}",
                        Json.write(saved),
                        Json.write(expected));
            }
            resumedFrom = from;
            lastCheckpoint =
                    new Reports.CheckpointReport(
                            null,
                            from,
                            loaded.digest(),
                            loaded.manifest().stateDigest(),
                            loaded.manifest().attempt(),
                            cfg.timeline,
                            loaded.manifest().createdAt());
            log.info(
                    "resumed from {} (timeline {} attempt {}): {} tensors, {} MB verified and loaded in {} s, stateDigest {}",
                    CheckpointStore.dirName(from),
                    loaded.manifest().timeline(),
                    loaded.manifest().attempt(),
                    loaded.tensors().size(),
                    mb(loaded.bytes()),
                    fmt(loaded.seconds()),
                    loaded.manifest().stateDigest());
        } else {
            state = TrainingState.fresh(spec, cfg.seed);
            resumedFrom = 0;
            log.info(
                    "fresh start: model {} ({} parameters), seed {}",
                    spec,
                    spec.parameterCount(),
                    cfg.seed);
        }
        store.ensureRoot();
        store.moveAsideNewerThan(resumedFrom);
        if (reporter != null) {
            reporter.reportInventory(inventoryReport(), Duration.ofSeconds(10));
        }
        return null;
    }

    /**
     * With {@code --resume-exact false} (the operator's step is only the newest it knows of): the
     * newest committed checkpoint of this timeline newer than that step that verifies, or null.
     * Such a directory is this job's own work whose report had not reached the operator before the
     * gang restarted (a SIGKILL right after the commit, a report held back, an operator that was
     * down); a timeline is linear, so resuming from it is what an uninterrupted run would have
     * done, and moving it aside would throw valid work away. One that fails verification is skipped
     * (and moved aside with the rest).
     */
    private CheckpointReader.Loaded newerOfThisTimeline() throws IOException {
        long known = Math.max(0, cfg.resumeStep);
        for (Map.Entry<Long, java.nio.file.Path> e : store.committed().descendingMap().entrySet()) {
            long step = e.getKey();
            if (step <= known) {
                break;
            }
            if (step > cfg.steps) {
                continue;
            }
            if (!store.timelineOf(e.getValue()).filter(cfg.timeline::equals).isPresent()) {
                continue;
            }
            try {
                CheckpointReader.Loaded loaded = reader.load(store, step, spec);
                log.warn(
                        "{} (timeline {}, attempt {}) is newer than resume step {} and verifies:"
                                + " resuming from it instead of moving it aside",
                        CheckpointStore.dirName(step),
                        cfg.timeline,
                        loaded.manifest().attempt(),
                        known);
                return loaded;
            } catch (CheckpointException invalid) {
                log.warn(
                        "not resuming from newer {}: {}",
                        CheckpointStore.dirName(step),
                        invalid.getMessage());
            }
        }
        return null;
    }

    /** What is on disk now, for the {@code inventory} report. */
    private Reports.Inventory inventoryReport() throws IOException {
        return new Reports.Inventory(
                cfg.timeline,
                cfg.attempt,
                cfg.jobUid.isBlank() ? null : cfg.jobUid,
                reporter.now(),
                inventory.current(),
                resumedFrom);
    }

    /**
     * Returns true when stopped early (signal or --stop-at-step), false when all steps are done.
     */
    private boolean trainLoop() throws Exception {
        int from = cfg.shardFrom();
        int to = cfg.shardTo();
        long startStep = state.step();
        long windowStart = System.nanoTime();
        long windowSteps = 0;
        double windowLoss = 0;
        long lastLog = System.nanoTime();
        long logEvery = (long) (cfg.logIntervalSeconds * 1e9);
        log.info(
                "training steps {}..{} (rank {} of {}, rows {}..{} of batch {})",
                startStep + 1,
                cfg.steps,
                cfg.rank,
                cfg.worldSize,
                from,
                to,
                cfg.batch);
        if (collective == null && stop.requested()) {
            return true; // with a gang, the agreement before the loop (and every step's all-reduce)
            // decides together
        }
        while (state.step() < cfg.steps) {
            long position = state.step();
            SyntheticData.Batch batch = data.batch(position, cfg.batch, from, to);
            Mlp.Result r = Mlp.lossAndGradients(spec, state.params(), batch, cfg.batch);
            LinkedHashMap<String, INDArray> grads = r.gradients();
            double loss = r.lossSum();
            boolean stopAfter;
            if (collective != null) {
                boolean localStop = stop.requested() || position + 1 == cfg.stopAtStep;
                Collective.Reduced red = collective.allReduce(flatten(grads), loss, localStop);
                grads = unflatten(red.sum(), grads);
                loss = red.loss();
                stopAfter = red.stop();
            } else {
                stopAfter = false;
            }
            adam.apply(
                    state.params(),
                    grads,
                    state.firstMoments(),
                    state.secondMoments(),
                    position + 1,
                    schedule.at(position));
            state.advance();
            long step = state.step();
            stopAfter |= collective == null && (stop.requested() || step == cfg.stopAtStep);
            windowSteps++;
            windowLoss += loss;

            long now = System.nanoTime();
            if (now - lastLog >= logEvery || step == cfg.steps || step == startStep + 1) {
                double rate = windowSteps / ((now - windowStart) / 1e9);
                long left = cfg.steps - step;
                log.info(
                        String.format(
                                "step %d/%d loss %.4f lr %.2e %.2f steps/s ETA %s",
                                step,
                                cfg.steps,
                                windowLoss / windowSteps,
                                schedule.at(position),
                                rate,
                                eta(left / rate)));
                windowStart = now;
                windowSteps = 0;
                windowLoss = 0;
                lastLog = now;
            }
            if (reporter != null) {
                reporter.progress(step, cfg.attempt, cfg.timeline);
            }
            if (root
                    && cfg.checkpointInterval > 0
                    && step % cfg.checkpointInterval == 0
                    && step < cfg.steps) {
                saveCheckpoint("periodic", Duration.ofSeconds(30));
            }
            if (stopAfter && step < cfg.steps) {
                log.warn(
                        "stopping after step {} ({})",
                        step,
                        stop.requested() ? stop.reason() : "--stop-at-step");
                return true;
            }
            if (cfg.stepSleepMs > 0) {
                Thread.sleep(cfg.stepSleepMs);
            }
        }
        return false;
    }

    private Reports.CheckpointReport saveCheckpoint(String kind, Duration reportTimeout)
            throws IOException {
        CheckpointWriter.Saved saved =
                writer.save(
                        store,
                        state,
                        meta(state.step()),
                        cfg.attempt,
                        cfg.timeline,
                        cfg.worldSize,
                        backend,
                        cfg.jobRef(),
                        cfg.jobUid.isBlank() ? null : cfg.jobUid);
        CheckpointReader.Loaded verified;
        try {
            verified = reader.verify(store, saved.step(), spec);
        } catch (CheckpointException e) {
            throw new IOException(
                    "checkpoint " + saved.dir() + " failed re-verification: " + e.getMessage(), e);
        }
        if (!verified.digest().equals(saved.digest())) {
            throw new IOException(
                    "checkpoint "
                            + saved.dir()
                            + " re-verification digest "
                            + verified.digest()
                            + " != "
                            + saved.digest());
        }
        lastSaveSeconds = saved.seconds() + verified.seconds();
        log.info(
                "checkpoint {} step {} saved in {} s ({} MB, {} MB/s) and re-verified in {} s: digest {} stateDigest {}",
                kind,
                saved.step(),
                fmt(saved.seconds()),
                mb(saved.bytes()),
                fmt(saved.bytes() / 1e6 / saved.seconds()),
                fmt(verified.seconds()),
                saved.digest(),
                saved.stateDigest());
        inventory.verified(saved.step(), verified);
        lastCheckpoint =
                new Reports.CheckpointReport(
                        null,
                        saved.step(),
                        saved.digest(),
                        saved.stateDigest(),
                        cfg.attempt,
                        cfg.timeline,
                        saved.manifest().createdAt());
        List<Long> deleted = store.retain(cfg.checkpointKeep, resumedFrom);
        if (!deleted.isEmpty()) {
            log.info("retention (keep {}): deleted steps {}", cfg.checkpointKeep, deleted);
        }
        // Reported after retention, with the inventory: status never lists a step retention just
        // deleted.
        if (reporter != null) {
            reporter.reportCheckpoint(lastCheckpoint, inventoryReport(), reportTimeout);
        }
        return lastCheckpoint;
    }

    /** After a stop: the checkpoint of the current step, written now if the grace period allows. */
    private Reports.CheckpointReport emergencyCheckpoint() {
        if (state.step() == resumedFrom && lastCheckpoint == null) {
            log.info("no step since the fresh start: nothing to checkpoint");
            return null;
        }
        if (lastCheckpoint != null && lastCheckpoint.step() == state.step()) {
            log.info("step {} is already checkpointed", state.step());
            if (reporter != null) {
                reporter.reportCheckpoint(
                        lastCheckpoint, Duration.ofSeconds(Math.max(1, (long) remainingGrace())));
            }
            return lastCheckpoint;
        }
        double estimate = lastSaveSeconds > 0 ? lastSaveSeconds : state.bytes() / 40e6 + 0.5;
        double left = remainingGrace();
        if (estimate * 1.5 + 1.0 > left) {
            log.warn(
                    "no emergency checkpoint: a save takes about {} s, {} s of the grace period left",
                    fmt(estimate),
                    fmt(left));
            return null;
        }
        try {
            Duration reportTimeout =
                    Duration.ofMillis((long) Math.max(500, (left - estimate * 1.5) * 1000));
            return saveCheckpoint("emergency", reportTimeout);
        } catch (IOException | RuntimeException e) {
            log.error("emergency checkpoint failed", e);
            return null;
        }
    }

    private double remainingGrace() {
        return cfg.graceSeconds - stop.secondsSinceRequest();
    }

    private void broadcastVerdict(String json) {
        if (collective == null) {
            return;
        }
        try {
            collective.broadcast(json.getBytes(StandardCharsets.UTF_8));
        } catch (IOException e) {
            log.warn("could not tell the other ranks how this ended: {}", e.toString());
        }
    }

    /** Non-root ranks: take rank 0's termination message (or write our own if rank 0 is gone). */
    private int awaitRootVerdict(int expected) {
        try {
            String json = new String(collective.broadcast(new byte[0]), StandardCharsets.UTF_8);
            String result = Json.CANONICAL.readTree(json).path("result").asText();
            TerminationLog.write(cfg.terminationLog, json);
            return switch (result) {
                case "Succeeded" -> ExitCodes.SUCCEEDED;
                case "Terminated" -> ExitCodes.TERMINATED;
                default -> ExitCodes.FAILED;
            };
        } catch (IOException e) {
            log.warn("rank 0 did not send its verdict: {}", e.toString());
            terminate(
                    new Reports.Termination(
                            expected == ExitCodes.SUCCEEDED ? "Succeeded" : "Terminated",
                            state.step(),
                            null,
                            null,
                            null));
            return expected;
        }
    }

    private void terminate(Reports.Termination t) {
        TerminationLog.write(cfg.terminationLog, Json.write(t));
    }

    NonTensorState meta(long step) {
        long seed = state != null ? state.seed() : cfg.seed;
        return new NonTensorState(
                step,
                new NonTensorState.Model(
                        "mlp-relu-softmax",
                        spec.input(),
                        spec.hidden(),
                        spec.layers(),
                        spec.classes()),
                new NonTensorState.Optimizer(
                        "adamw", cfg.beta1, cfg.beta2, cfg.eps, cfg.weightDecay, step),
                new NonTensorState.Schedule(
                        LrSchedule.TYPE, cfg.lr, cfg.minLr, cfg.warmupSteps, cfg.steps, step),
                new NonTensorState.Data(SyntheticData.GENERATOR, seed, step, cfg.batch),
                new NonTensorState.Rng("counter-splitmix64", seed, step));
    }

    private void logEnvironment() {
        String omp = System.getenv("OMP_NUM_THREADS");
        String core = System.getenv("OPENBLAS_CORETYPE");
        if (omp == null || core == null) {
            log.warn(
                    "OMP_NUM_THREADS={} OPENBLAS_CORETYPE={}: set both explicitly, or results may differ between "
                            + "machines/runs with different thread counts or BLAS kernels",
                    omp,
                    core);
        } else {
            log.info("OMP_NUM_THREADS={} OPENBLAS_CORETYPE={}", omp, core);
        }
        try {
            var env = Nd4j.getExecutioner().getEnvironmentInformation();
            backend =
                    Nd4j.getBackend().getClass().getSimpleName()
                            + "/"
                            + env.getOrDefault("blas.vendor", "?");
            log.info(
                    "ND4J backend {} ({} threads, {} cores)",
                    backend,
                    env.get("omp.threads"),
                    env.get("cores"));
        } catch (RuntimeException e) {
            log.warn("cannot read ND4J environment: {}", e.toString());
        }
        log.info(
                "job {} pod {} attempt {} timeline {} rank {}/{} resume-step {} steps {} checkpoint-dir {} interval {} keep {}",
                cfg.jobName,
                cfg.podName,
                cfg.attempt,
                cfg.timeline,
                cfg.rank,
                cfg.worldSize,
                cfg.resumeStep,
                cfg.steps,
                cfg.checkpointDir,
                cfg.checkpointInterval,
                cfg.checkpointKeep);
    }

    // --- gradient flattening for the collective ---

    private static float[] flatten(Map<String, INDArray> grads) {
        long n = 0;
        for (INDArray g : grads.values()) {
            n += g.length();
        }
        float[] flat = new float[Math.toIntExact(n)];
        int off = 0;
        for (INDArray g : grads.values()) {
            float[] v = g.dup('c').data().asFloat();
            System.arraycopy(v, 0, flat, off, (int) g.length());
            off += (int) g.length();
        }
        return flat;
    }

    private static LinkedHashMap<String, INDArray> unflatten(
            float[] flat, Map<String, INDArray> like) {
        LinkedHashMap<String, INDArray> out = new LinkedHashMap<>();
        int off = 0;
        for (Map.Entry<String, INDArray> e : like.entrySet()) {
            int len = (int) e.getValue().length();
            out.put(
                    e.getKey(),
                    Nd4j.createFromArray(Arrays.copyOfRange(flat, off, off + len))
                            .reshape('c', e.getValue().shape())
                            .dup('c'));
            off += len;
        }
        return out;
    }

    // --- state transfer from rank 0 ---

    private static byte[] encode(TrainingState s) throws IOException {
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        DataOutputStream out = new DataOutputStream(bos);
        out.writeLong(s.step());
        out.writeLong(s.seed());
        Map<String, INDArray> tensors = s.tensors();
        out.writeInt(tensors.size());
        for (Map.Entry<String, INDArray> e : tensors.entrySet()) {
            out.writeUTF(e.getKey());
            long[] shape = e.getValue().shape();
            out.writeInt(shape.length);
            for (long d : shape) {
                out.writeLong(d);
            }
            float[] v = e.getValue().dup('c').data().asFloat();
            ByteBuffer bb = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
            bb.asFloatBuffer().put(v);
            out.writeInt(v.length);
            out.write(bb.array());
        }
        out.flush();
        return bos.toByteArray();
    }

    private TrainingState decode(byte[] bytes) throws IOException {
        DataInputStream in = new DataInputStream(new ByteArrayInputStream(bytes));
        long step = in.readLong();
        long seed = in.readLong();
        int n = in.readInt();
        Map<String, INDArray> tensors = new LinkedHashMap<>();
        for (int i = 0; i < n; i++) {
            String name = in.readUTF();
            long[] shape = new long[in.readInt()];
            for (int k = 0; k < shape.length; k++) {
                shape[k] = in.readLong();
            }
            float[] v = new float[in.readInt()];
            byte[] raw = new byte[v.length * 4];
            in.readFully(raw);
            ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(v);
            tensors.put(name, Nd4j.createFromArray(v).reshape('c', shape).dup('c'));
        }
        for (ModelSpec.TensorSpec t : TrainingState.expectedTensors(spec)) {
            INDArray a = tensors.get(t.name());
            if (a == null || !Arrays.equals(a.shape(), t.shape())) {
                throw new IOException(
                        "rank 0 sent a state that does not fit this rank's model at "
                                + t.name()
                                + " (same --input/--hidden/--layers/--classes on every rank?)");
            }
        }
        if (tensors.size() != TrainingState.expectedTensors(spec).size()) {
            throw new IOException(
                    "rank 0 sent "
                            + tensors.size()
                            + " tensors, this rank's model has "
                            + TrainingState.expectedTensors(spec).size());
        }
        return TrainingState.of(spec, seed, step, tensors);
    }

    private static String eta(double seconds) {
        if (!Double.isFinite(seconds)) {
            return "?";
        }
        long s = Math.round(seconds);
        return s >= 3600
                ? String.format("%dh%02dm", s / 3600, s / 60 % 60)
                : String.format("%dm%02ds", s / 60, s % 60);
    }

    private static String mb(long bytes) {
        return String.format("%.2f", bytes / 1e6);
    }

    private static String fmt(double v) {
        return String.format("%.3f", v);
    }
}
