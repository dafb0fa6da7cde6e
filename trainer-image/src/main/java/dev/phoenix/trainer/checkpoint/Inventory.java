package dev.phoenix.trainer.checkpoint;

import dev.phoenix.trainer.model.ModelSpec;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The committed, verified checkpoints still on disk, newest first and bounded: what rank 0 reports
 * after every save, retention and aside-move, so that the operator's status mirrors the volume
 * instead of a history that retention or a timeline change has made stale (docs/design.md,
 * "Checkpoint truth").
 *
 * <p>Each checkpoint is verified once (when this trainer saved or loaded it, or on first sight) and
 * remembered by directory and digest; a directory that disappears or is replaced leaves the
 * inventory.
 */
public final class Inventory {
    private static final Logger log = LoggerFactory.getLogger(Inventory.class);

    /** Matches the operator's bound on status.checkpoints. */
    public static final int LIMIT = 20;

    public record Entry(long step, String digest, String stateDigest, String timeline) {}

    private final CheckpointStore store;
    private final CheckpointReader reader;
    private final ModelSpec spec;
    private final Map<Path, Entry> verified = new HashMap<>();
    private final Map<Path, String> failed = new HashMap<>();

    public Inventory(CheckpointStore store, CheckpointReader reader, ModelSpec spec) {
        this.store = store;
        this.reader = reader;
        this.spec = spec;
    }

    /**
     * Records a checkpoint this trainer just verified (after a save, or the one it resumed from).
     */
    public void verified(long step, CheckpointReader.Loaded loaded) {
        Manifest m = loaded.manifest();
        verified.put(
                store.stepDir(step),
                new Entry(step, loaded.digest(), m.stateDigest(), m.timeline()));
        failed.remove(store.stepDir(step));
    }

    /**
     * The newest {@link #LIMIT} committed checkpoints on disk that pass verification, newest first.
     */
    public List<Entry> current() throws IOException {
        List<Entry> out = new ArrayList<>();
        for (Map.Entry<Long, Path> e : store.committed().descendingMap().entrySet()) {
            if (out.size() >= LIMIT) {
                break;
            }
            Path dir = e.getValue();
            Entry known = verified.get(dir);
            String manifestDigest = manifestDigest(dir);
            if (known != null && Objects.equals(known.digest(), manifestDigest)) {
                out.add(known);
                continue;
            }
            if (failed.containsKey(dir) && Objects.equals(failed.get(dir), manifestDigest)) {
                continue;
            }
            try {
                CheckpointReader.Loaded loaded = reader.verify(store, e.getKey(), spec);
                verified(e.getKey(), loaded);
                out.add(verified.get(dir));
            } catch (CheckpointException ex) {
                log.warn("not in the inventory: {}", ex.getMessage());
                failed.put(dir, manifestDigest);
            }
        }
        verified.keySet().retainAll(store.committed().values());
        return out;
    }

    /**
     * The checkpoint's digest (sha256 of its manifest): cheap, and it changes when the directory is
     * replaced.
     */
    static String manifestDigest(Path dir) {
        try {
            return "sha256:"
                    + StateDigest.hex(
                            StateDigest.sha256()
                                    .digest(Files.readAllBytes(dir.resolve(Manifest.FILE))));
        } catch (IOException e) {
            return null;
        }
    }
}
