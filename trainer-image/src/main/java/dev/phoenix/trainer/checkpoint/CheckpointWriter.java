package dev.phoenix.trainer.checkpoint;

import dev.phoenix.trainer.model.TrainingState;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Saves a checkpoint with the commit protocol: write every tensor into {@code step-N.tmp-<random>/}
 * and fsync it, write and fsync the manifest, fsync the directory, rename it to {@code step-N},
 * fsync the parent. Until the rename nothing is a checkpoint; after it, everything is durable.
 */
public final class CheckpointWriter {
    public static final String DTYPE = "float32";
    public static final String FILE_SUFFIX = ".f32le";

    private ByteBuffer buffer = ByteBuffer.allocateDirect(1 << 16);

    public record Saved(
            long step,
            Path dir,
            String digest,
            String stateDigest,
            long bytes,
            double seconds,
            Manifest manifest) {}

    public Saved save(
            CheckpointStore store,
            TrainingState state,
            NonTensorState meta,
            int attempt,
            String timeline,
            int worldSize,
            String backend)
            throws IOException {
        return save(store, state, meta, attempt, timeline, worldSize, backend, null, null);
    }

    /**
     * @param job {@code namespace/name} of the owning TrainingJob, {@code jobUid} its UID (both may
     *     be null)
     */
    public Saved save(
            CheckpointStore store,
            TrainingState state,
            NonTensorState meta,
            int attempt,
            String timeline,
            int worldSize,
            String backend,
            String job,
            String jobUid)
            throws IOException {
        long t0 = System.nanoTime();
        long step = state.step();
        Path tmp = store.newTmpDir(step);
        List<Manifest.TensorEntry> entries = new ArrayList<>();
        long total = 0;
        for (Map.Entry<String, INDArray> e : state.tensors().entrySet()) {
            String file = e.getKey() + FILE_SUFFIX;
            INDArray a = e.getValue();
            ByteBuffer bytes = toBytes(a);
            MessageDigest md = StateDigest.sha256();
            md.update(bytes.duplicate());
            writeFully(tmp.resolve(file), bytes);
            entries.add(
                    new Manifest.TensorEntry(
                            e.getKey(),
                            file,
                            DTYPE,
                            a.shape(),
                            bytes.remaining(),
                            StateDigest.hex(md.digest())));
            total += bytes.remaining();
        }
        String stateDigest = StateDigest.of(entries, meta);
        Manifest manifest =
                new Manifest(
                        Manifest.FORMAT_VERSION,
                        step,
                        attempt,
                        timeline,
                        Instant.now().truncatedTo(java.time.temporal.ChronoUnit.MILLIS).toString(),
                        job,
                        jobUid,
                        worldSize,
                        backend,
                        stateDigest,
                        entries,
                        meta);
        byte[] manifestBytes = Json.PRETTY.writeValueAsBytes(manifest);
        writeFully(tmp.resolve(Manifest.FILE), ByteBuffer.wrap(manifestBytes));
        CheckpointStore.fsyncDir(tmp);
        Path target = store.stepDir(step);
        if (Files.exists(target)) {
            store.moveAsideExisting(target);
        }
        Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
        CheckpointStore.fsyncDir(store.root());
        String digest = "sha256:" + StateDigest.hex(StateDigest.sha256().digest(manifestBytes));
        return new Saved(
                step,
                target,
                digest,
                stateDigest,
                total + manifestBytes.length,
                (System.nanoTime() - t0) / 1e9,
                manifest);
    }

    /**
     * The array's values in C order as little-endian float32 bytes (never through a view's buffer).
     */
    private ByteBuffer toBytes(INDArray a) {
        if (a.dataType() != DataType.FLOAT) {
            throw new IllegalArgumentException(
                    "only float32 tensors are supported, got " + a.dataType());
        }
        INDArray c = a.dup('c');
        float[] values = c.data().asFloat();
        if (values.length != a.length()) {
            throw new IllegalStateException(
                    "buffer length " + values.length + " != tensor length " + a.length());
        }
        int n = Math.toIntExact(values.length * 4L);
        if (buffer.capacity() < n) {
            buffer = ByteBuffer.allocateDirect(n);
        }
        buffer.clear().limit(n);
        buffer.order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().put(values);
        return buffer.slice(0, n).order(ByteOrder.LITTLE_ENDIAN);
    }

    static void writeFully(Path file, ByteBuffer data) throws IOException {
        try (FileChannel ch =
                FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            ByteBuffer b = data.duplicate();
            while (b.hasRemaining()) {
                ch.write(b);
            }
            ch.force(true);
        }
    }
}
