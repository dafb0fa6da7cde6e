package dev.phoenix.trainer.checkpoint;

import java.util.List;

/**
 * {@code manifest.json}: written last, after every tensor file is fsynced. Its SHA-256 is the
 * checkpoint's {@code digest}; {@code stateDigest} covers the training state only (see
 * {@link StateDigest}).
 */
public record Manifest(
    int formatVersion,
    long step,
    int attempt,
    String timeline,
    String createdAt,
    int worldSize,
    String backend,
    String stateDigest,
    List<TensorEntry> tensors,
    NonTensorState state) {

  public static final int FORMAT_VERSION = 1;
  public static final String FILE = "manifest.json";

  /** One tensor file: raw little-endian values in C order. */
  public record TensorEntry(String name, String file, String dtype, long[] shape, long bytes, String sha256) {}
}
