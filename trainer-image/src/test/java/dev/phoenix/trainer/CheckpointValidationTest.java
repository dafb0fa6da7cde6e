package dev.phoenix.trainer;

import static dev.phoenix.trainer.TrainerProcess.SMALL_MODEL;
import static dev.phoenix.trainer.TrainerProcess.args;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.phoenix.trainer.checkpoint.CheckpointException;
import dev.phoenix.trainer.checkpoint.CheckpointReader;
import dev.phoenix.trainer.checkpoint.CheckpointStore;
import dev.phoenix.trainer.checkpoint.Json;
import dev.phoenix.trainer.checkpoint.Manifest;
import dev.phoenix.trainer.model.ModelSpec;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every kind of damage is detected with an error that names the tensor or file, both by the reader
 * and by Main (exit 65 and a CheckpointInvalid termination message), and nothing is loaded.
 */
class CheckpointValidationTest {
    static final ModelSpec SPEC = new ModelSpec(32, 64, 2, 10);
    static final String STEP = "step-0000000003";

    @TempDir static Path tmp;
    static Path pristine;

    interface Damage {
        void apply(Path stepDir) throws Exception;
    }

    @BeforeAll
    static void makeCheckpoint() throws Exception {
        pristine = tmp.resolve("pristine");
        int code =
                Main.run(
                        false,
                        Map.of(),
                        args(
                                SMALL_MODEL,
                                "--steps",
                                "3",
                                "--checkpoint-dir",
                                pristine.toString(),
                                "--termination-log",
                                tmp.resolve("pristine-term.json").toString()));
        assertThat(code).isEqualTo(0);
        new CheckpointReader().verify(new CheckpointStore(pristine), 3, SPEC);
    }

    static Stream<Arguments> damages() {
        return Stream.of(
                Arguments.of(
                        "truncated file",
                        (Damage) d -> truncate(d.resolve("layer1.W.f32le"), 4),
                        "layer1.W",
                        "truncated"),
                Arguments.of(
                        "flipped byte",
                        (Damage) d -> flip(d.resolve("layer0.W.f32le"), 100),
                        "layer0.W: SHA-256 mismatch",
                        ""),
                Arguments.of(
                        "missing tensor file",
                        (Damage) d -> Files.delete(d.resolve("optimizer.v.layer2.b.f32le")),
                        "optimizer.v.layer2.b: file optimizer.v.layer2.b.f32le missing",
                        ""),
                Arguments.of(
                        "tensor missing from manifest",
                        (Damage)
                                d -> {
                                    Files.delete(d.resolve("layer2.b.f32le"));
                                    editManifest(d, m -> removeTensor(m, "layer2.b"));
                                },
                        "layer2.b: missing tensor",
                        ""),
                Arguments.of(
                        "extra tensor",
                        (Damage)
                                d -> {
                                    byte[] bytes = new byte[64 * 4];
                                    Files.write(d.resolve("layer3.W.f32le"), bytes);
                                    editManifest(
                                            d,
                                            m -> {
                                                ObjectNode t =
                                                        ((ArrayNode) m.get("tensors")).addObject();
                                                t.put("name", "layer3.W")
                                                        .put("file", "layer3.W.f32le")
                                                        .put("dtype", "float32")
                                                        .put("bytes", bytes.length)
                                                        .put("sha256", sha256(bytes));
                                                t.putArray("shape").add(64);
                                            });
                                },
                        "layer3.W: unexpected tensor",
                        ""),
                Arguments.of(
                        "extra file",
                        (Damage) d -> Files.write(d.resolve("layer3.W.f32le"), new byte[16]),
                        "layer3.W.f32le: unexpected file",
                        ""),
                Arguments.of(
                        "mis-shaped tensor",
                        (Damage)
                                d ->
                                        editManifest(
                                                d,
                                                m -> {
                                                    for (JsonNode t : m.get("tensors")) {
                                                        if (t.get("name")
                                                                .asText()
                                                                .equals("layer1.W")) {
                                                            ((ObjectNode) t)
                                                                    .putArray("shape")
                                                                    .add(32)
                                                                    .add(128);
                                                        }
                                                    }
                                                }),
                        "layer1.W: shape [32, 128], model expects [64, 64]",
                        ""),
                Arguments.of(
                        "missing manifest",
                        (Damage) d -> Files.delete(d.resolve(Manifest.FILE)),
                        "no manifest.json",
                        ""),
                Arguments.of(
                        "garbage manifest",
                        (Damage) d -> Files.writeString(d.resolve(Manifest.FILE), "{\"step\": 3,"),
                        "manifest.json: unreadable",
                        ""),
                Arguments.of(
                        "half-written .tmp directory",
                        (Damage)
                                d -> {
                                    Files.delete(d.resolve(Manifest.FILE));
                                    Files.move(d, d.resolveSibling(STEP + ".tmp-1a2b3c4d"));
                                },
                        "no such checkpoint directory",
                        "only the uncommitted " + STEP + ".tmp-1a2b3c4d exists"),
                Arguments.of(
                        "state tampered",
                        (Damage)
                                d ->
                                        editManifest(
                                                d,
                                                m ->
                                                        ((ObjectNode) m.get("state").get("data"))
                                                                .put("seed", 1)),
                        "stateDigest does not match",
                        ""));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("damages")
    void damageIsDetected(String name, Damage damage, String expected, String alsoExpected)
            throws Exception {
        Path dir = tmp.resolve(name.replace(' ', '_'));
        copy(pristine, dir);
        damage.apply(dir.resolve(STEP));

        assertThatThrownBy(() -> new CheckpointReader().load(new CheckpointStore(dir), 3, SPEC))
                .isInstanceOf(CheckpointException.class)
                .hasMessageContaining(STEP)
                .hasMessageContaining(expected)
                .hasMessageContaining(alsoExpected);

        Path term = dir.resolveSibling(dir.getFileName() + "-term.json");
        int code =
                Main.run(
                        false,
                        Map.of(),
                        args(
                                SMALL_MODEL,
                                "--steps",
                                "6",
                                "--checkpoint-dir",
                                dir.toString(),
                                "--resume-step",
                                "3",
                                "--termination-log",
                                term.toString()));
        assertThat(code).isEqualTo(65);
        JsonNode t = Json.CANONICAL.readTree(term.toFile());
        assertThat(t.path("result").asText()).isEqualTo("CheckpointInvalid");
        assertThat(t.path("step").asLong()).isEqualTo(3);
        assertThat(t.path("message").asText()).contains(expected).contains(alsoExpected);
        // Nothing was trained or written on top of the broken checkpoint.
        assertThat(new CheckpointStore(dir).committed().keySet()).allMatch(s -> s <= 3);
    }

    static void truncate(Path f, int bytes) throws IOException {
        try (RandomAccessFile raf = new RandomAccessFile(f.toFile(), "rw")) {
            raf.setLength(raf.length() - bytes);
        }
    }

    static void flip(Path f, int offset) throws IOException {
        byte[] b = Files.readAllBytes(f);
        b[offset] ^= 0x40;
        Files.write(f, b);
    }

    interface Edit {
        void apply(ObjectNode manifest) throws Exception;
    }

    static void editManifest(Path d, Edit edit) throws Exception {
        ObjectNode m = (ObjectNode) Json.CANONICAL.readTree(d.resolve(Manifest.FILE).toFile());
        edit.apply(m);
        Files.write(d.resolve(Manifest.FILE), Json.PRETTY.writeValueAsBytes(m));
    }

    static void removeTensor(ObjectNode m, String name) {
        Iterator<JsonNode> it = m.get("tensors").iterator();
        while (it.hasNext()) {
            if (it.next().get("name").asText().equals(name)) {
                it.remove();
            }
        }
    }

    static String sha256(byte[] b) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
    }

    static void copy(Path from, Path to) throws IOException {
        try (Stream<Path> walk = Files.walk(from)) {
            for (Path p : walk.toList()) {
                Path target = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(target);
                } else {
                    Files.copy(p, target);
                }
            }
        }
    }
}
