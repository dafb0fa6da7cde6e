package dev.phoenix.trainer.checkpoint;

import dev.phoenix.trainer.model.ModelSpec;
import dev.phoenix.trainer.model.TrainingState;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Verifies and loads a checkpoint strictly: the directory must be committed (manifest present and
 * parseable, for the right step), hold exactly the files the manifest names with their byte lengths
 * and SHA-256, and the tensors must be exactly the ones the model has, with the same shapes. Any
 * deviation is a {@link CheckpointException} naming the directory and the tensor or file; nothing
 * is loaded partially: the arrays are only handed out once every check passed.
 */
public final class CheckpointReader {
    private ByteBuffer buffer = ByteBuffer.allocateDirect(1 << 16);

    public record Loaded(
            Manifest manifest,
            String digest,
            Map<String, INDArray> tensors,
            double seconds,
            long bytes) {}

    /** Verifies only (re-verification after a save, or before reporting). */
    public Loaded verify(CheckpointStore store, long step, ModelSpec spec)
            throws CheckpointException {
        return read(store, step, spec, false);
    }

    public Loaded load(CheckpointStore store, long step, ModelSpec spec)
            throws CheckpointException {
        return read(store, step, spec, true);
    }

    private Loaded read(CheckpointStore store, long step, ModelSpec spec, boolean materialize)
            throws CheckpointException {
        long t0 = System.nanoTime();
        String dirName = CheckpointStore.dirName(step);
        Path dir = store.stepDir(step);
        if (!Files.isDirectory(dir)) {
            String why = dirName + ": no such checkpoint directory in " + store.root();
            try {
                List<Path> tmps = store.tmpDirs(step);
                if (!tmps.isEmpty()) {
                    why +=
                            " (only the uncommitted "
                                    + tmps.get(0).getFileName()
                                    + " exists: a save that never completed)";
                }
            } catch (IOException ignored) {
                // the plain message is enough
            }
            throw new CheckpointException(step, why);
        }
        Path manifestFile = dir.resolve(Manifest.FILE);
        if (!Files.isRegularFile(manifestFile)) {
            throw new CheckpointException(
                    step, dirName + ": no " + Manifest.FILE + " (not a committed checkpoint)");
        }
        byte[] manifestBytes;
        Manifest manifest;
        try {
            manifestBytes = Files.readAllBytes(manifestFile);
            manifest = Json.CANONICAL.readValue(manifestBytes, Manifest.class);
        } catch (IOException e) {
            throw new CheckpointException(
                    step, dirName + "/" + Manifest.FILE + ": unreadable: " + e.getMessage(), e);
        }
        if (manifest.formatVersion() != Manifest.FORMAT_VERSION) {
            throw new CheckpointException(
                    step,
                    dirName
                            + "/"
                            + Manifest.FILE
                            + ": unsupported format version "
                            + manifest.formatVersion());
        }
        if (manifest.step() != step) {
            throw new CheckpointException(
                    step,
                    dirName + "/" + Manifest.FILE + ": manifest is for step " + manifest.step());
        }
        if (manifest.tensors() == null
                || manifest.state() == null
                || manifest.stateDigest() == null) {
            throw new CheckpointException(
                    step,
                    dirName
                            + "/"
                            + Manifest.FILE
                            + ": incomplete manifest (tensors, state or stateDigest missing)");
        }
        checkState(dirName, step, manifest.state(), spec);
        checkTensorSet(dirName, step, manifest, spec);
        checkNoExtraFiles(dirName, step, dir, manifest);

        Map<String, INDArray> tensors = new LinkedHashMap<>();
        long total = manifestBytes.length;
        for (Manifest.TensorEntry t : manifest.tensors()) {
            String where = dirName + "/" + t.name();
            Path file = dir.resolve(t.file());
            long size;
            try {
                size = Files.size(file);
            } catch (IOException e) {
                throw new CheckpointException(
                        step, where + ": file " + t.file() + " missing or unreadable");
            }
            if (size != t.bytes()) {
                throw new CheckpointException(
                        step,
                        where
                                + ": file "
                                + t.file()
                                + " has "
                                + size
                                + " bytes, manifest says "
                                + t.bytes()
                                + (size < t.bytes() ? " (truncated)" : ""));
            }
            ByteBuffer data;
            try {
                data = readFully(file, Math.toIntExact(size));
            } catch (IOException e) {
                throw new CheckpointException(
                        step, where + ": cannot read " + t.file() + ": " + e.getMessage(), e);
            }
            MessageDigest md = StateDigest.sha256();
            md.update(data.duplicate());
            String actual = StateDigest.hex(md.digest());
            if (!actual.equals(t.sha256())) {
                throw new CheckpointException(
                        step,
                        where
                                + ": SHA-256 mismatch (manifest "
                                + t.sha256()
                                + ", file "
                                + actual
                                + ")");
            }
            total += size;
            if (materialize) {
                float[] values = new float[Math.toIntExact(size / 4)];
                data.order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(values);
                // A fresh array, never a view (STACK.md: asNio() ignores view offsets).
                tensors.put(
                        t.name(), Nd4j.createFromArray(values).reshape('c', t.shape()).dup('c'));
            }
        }
        String stateDigest = StateDigest.of(manifest.tensors(), manifest.state());
        if (!stateDigest.equals(manifest.stateDigest())) {
            throw new CheckpointException(
                    step,
                    dirName
                            + "/"
                            + Manifest.FILE
                            + ": stateDigest does not match its content (manifest "
                            + manifest.stateDigest()
                            + ", computed "
                            + stateDigest
                            + ")");
        }
        String digest = "sha256:" + StateDigest.hex(StateDigest.sha256().digest(manifestBytes));
        return new Loaded(
                manifest,
                digest,
                materialize ? tensors : null,
                (System.nanoTime() - t0) / 1e9,
                total);
    }

    private static void checkState(String dirName, long step, NonTensorState s, ModelSpec spec)
            throws CheckpointException {
        String where = dirName + "/" + Manifest.FILE + ": state";
        if (s.model() == null
                || s.optimizer() == null
                || s.schedule() == null
                || s.data() == null
                || s.rng() == null) {
            throw new CheckpointException(
                    step, where + " incomplete (model, optimizer, schedule, data or rng missing)");
        }
        if (s.step() != step
                || s.optimizer().iteration() != step
                || s.schedule().position() != step
                || s.data().cursor() != step
                || s.rng().counter() != step) {
            throw new CheckpointException(
                    step, where + " inconsistent with step " + step + ": " + Json.write(s));
        }
        ModelSpec saved =
                new ModelSpec(
                        s.model().input(),
                        s.model().hidden(),
                        s.model().layers(),
                        s.model().classes());
        if (!saved.equals(spec)) {
            throw new CheckpointException(
                    step,
                    where
                            + ": checkpoint model "
                            + saved
                            + " does not match the configured model "
                            + spec);
        }
    }

    private static void checkTensorSet(String dirName, long step, Manifest manifest, ModelSpec spec)
            throws CheckpointException {
        Map<String, long[]> expected = new LinkedHashMap<>();
        for (ModelSpec.TensorSpec t : TrainingState.expectedTensors(spec)) {
            expected.put(t.name(), t.shape());
        }
        Set<String> seen = new HashSet<>();
        for (Manifest.TensorEntry t : manifest.tensors()) {
            if (!seen.add(t.name())) {
                throw new CheckpointException(
                        step, dirName + "/" + t.name() + ": listed twice in the manifest");
            }
            long[] shape = expected.get(t.name());
            if (shape == null) {
                throw new CheckpointException(
                        step,
                        dirName
                                + "/"
                                + t.name()
                                + ": unexpected tensor (the model has no such tensor)");
            }
            if (!CheckpointWriter.DTYPE.equals(t.dtype())) {
                throw new CheckpointException(
                        step,
                        dirName
                                + "/"
                                + t.name()
                                + ": dtype "
                                + t.dtype()
                                + ", expected "
                                + CheckpointWriter.DTYPE);
            }
            if (!Arrays.equals(shape, t.shape())) {
                throw new CheckpointException(
                        step,
                        dirName
                                + "/"
                                + t.name()
                                + ": shape "
                                + Arrays.toString(t.shape())
                                + ", model expects "
                                + Arrays.toString(shape));
            }
            long elements = 1;
            for (long d : shape) {
                elements *= d;
            }
            if (t.bytes() != elements * 4) {
                throw new CheckpointException(
                        step,
                        dirName
                                + "/"
                                + t.name()
                                + ": manifest byte length "
                                + t.bytes()
                                + " does not fit shape "
                                + Arrays.toString(shape));
            }
            if (t.file() == null || !t.file().equals(t.name() + CheckpointWriter.FILE_SUFFIX)) {
                throw new CheckpointException(
                        step, dirName + "/" + t.name() + ": unexpected file name " + t.file());
            }
        }
        for (String name : expected.keySet()) {
            if (!seen.contains(name)) {
                throw new CheckpointException(
                        step, dirName + "/" + name + ": missing tensor (not in the manifest)");
            }
        }
    }

    private static void checkNoExtraFiles(String dirName, long step, Path dir, Manifest manifest)
            throws CheckpointException {
        Set<String> allowed = new TreeSet<>();
        allowed.add(Manifest.FILE);
        manifest.tensors().forEach(t -> allowed.add(t.file()));
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir)) {
            for (Path p : ds) {
                String name = p.getFileName().toString();
                if (!allowed.contains(name)) {
                    throw new CheckpointException(
                            step, dirName + "/" + name + ": unexpected file (not in the manifest)");
                }
            }
        } catch (IOException e) {
            throw new CheckpointException(step, dirName + ": cannot list: " + e.getMessage(), e);
        }
    }

    private ByteBuffer readFully(Path file, int size) throws IOException {
        if (buffer.capacity() < size) {
            buffer = ByteBuffer.allocateDirect(size);
        }
        buffer.clear().limit(size);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            while (buffer.hasRemaining()) {
                if (ch.read(buffer) < 0) {
                    throw new IOException("unexpected end of file");
                }
            }
        }
        buffer.flip();
        return buffer.slice(0, size);
    }
}
