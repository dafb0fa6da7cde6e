package dev.phoenix.trainer.checkpoint;

import com.fasterxml.jackson.annotation.JsonInclude;
import java.util.List;

/**
 * {@code manifest.json}: written last, after every tensor file is fsynced. Its SHA-256 is the
 * checkpoint's {@code digest}; {@code stateDigest} covers the training state only (see {@link
 * StateDigest}). {@code job} ({@code namespace/name}) and {@code jobUid} name the TrainingJob that
 * wrote it: a checkpoint directory belongs to one job (docs/design.md, "Checkpoint truth and
 * safety"); both are absent in checkpoints written outside Kubernetes.
 */
public record Manifest(
        int formatVersion,
        long step,
        int attempt,
        String timeline,
        String createdAt,
        @JsonInclude(JsonInclude.Include.NON_NULL) String job,
        @JsonInclude(JsonInclude.Include.NON_NULL) String jobUid,
        int worldSize,
        String backend,
        String stateDigest,
        List<TensorEntry> tensors,
        NonTensorState state) {

    public static final int FORMAT_VERSION = 1;
    public static final String FILE = "manifest.json";

    /** One tensor file: raw little-endian values in C order. */
    public record TensorEntry(
            String name, String file, String dtype, long[] shape, long bytes, String sha256) {}
}
