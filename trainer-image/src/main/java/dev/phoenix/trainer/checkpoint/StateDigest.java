package dev.phoenix.trainer.checkpoint;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;

/**
 * SHA-256 of the training state alone: every tensor's canonical name, dtype, shape and the SHA-256
 * of its bytes (sorted by name), then the canonical JSON of the non-tensor state. Nothing of
 * attempt, timeline or time: two runs that reached bit-identical state have the same state digest.
 */
public final class StateDigest {
    private StateDigest() {}

    public static String of(List<Manifest.TensorEntry> tensors, NonTensorState state) {
        MessageDigest md = sha256();
        md.update("phoenix-state-v1\n".getBytes(StandardCharsets.UTF_8));
        tensors.stream()
                .sorted(Comparator.comparing(Manifest.TensorEntry::name))
                .forEach(
                        t ->
                                md.update(
                                        (t.name()
                                                        + "\t"
                                                        + t.dtype()
                                                        + "\t"
                                                        + Arrays.toString(t.shape())
                                                        + "\t"
                                                        + t.sha256()
                                                        + "\n")
                                                .getBytes(StandardCharsets.UTF_8)));
        md.update(Json.write(state).getBytes(StandardCharsets.UTF_8));
        return "sha256:" + HexFormat.of().formatHex(md.digest());
    }

    public static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    public static String hex(byte[] digest) {
        return HexFormat.of().formatHex(digest);
    }
}
