package dev.phoenix.trainer;

import static org.assertj.core.api.Assertions.assertThat;

import dev.phoenix.trainer.checkpoint.CheckpointReader;
import dev.phoenix.trainer.checkpoint.CheckpointStore;
import dev.phoenix.trainer.checkpoint.CheckpointWriter;
import dev.phoenix.trainer.checkpoint.NonTensorState;
import dev.phoenix.trainer.data.SyntheticData;
import dev.phoenix.trainer.model.Mlp;
import dev.phoenix.trainer.model.ModelSpec;
import dev.phoenix.trainer.model.TrainingState;
import dev.phoenix.trainer.optim.AdamW;
import dev.phoenix.trainer.optim.LrSchedule;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * save -> load is bit-exact for every tensor, and training continues identically from the loaded
 * state.
 */
class CheckpointRoundTripTest {
    static final ModelSpec SPEC = new ModelSpec(32, 64, 2, 10);
    static final AdamW ADAM = new AdamW(0.9, 0.999, 1e-8, 0.01);
    static final LrSchedule SCHEDULE = new LrSchedule(3e-3, 3e-4, 2, 20);

    @TempDir Path tmp;

    static void train(TrainingState s, SyntheticData data, int steps) {
        for (int i = 0; i < steps; i++) {
            SyntheticData.Batch b = data.batch(s.step(), 16, 0, 16);
            Mlp.Result r = Mlp.lossAndGradients(SPEC, s.params(), b, 16);
            ADAM.apply(
                    s.params(),
                    r.gradients(),
                    s.firstMoments(),
                    s.secondMoments(),
                    s.step() + 1,
                    SCHEDULE.at(s.step()));
            s.advance();
        }
    }

    static NonTensorState meta(TrainingState s) {
        long step = s.step();
        return new NonTensorState(
                step,
                new NonTensorState.Model("mlp-relu-softmax", 32, 64, 2, 10),
                new NonTensorState.Optimizer("adamw", 0.9, 0.999, 1e-8, 0.01, step),
                new NonTensorState.Schedule(LrSchedule.TYPE, 3e-3, 3e-4, 2, 20, step),
                new NonTensorState.Data(SyntheticData.GENERATOR, s.seed(), step, 16),
                new NonTensorState.Rng("counter-splitmix64", s.seed(), step));
    }

    static int[] bits(INDArray a) {
        float[] v = a.dup('c').data().asFloat();
        int[] out = new int[v.length];
        for (int i = 0; i < v.length; i++) {
            out[i] = Float.floatToRawIntBits(v[i]);
        }
        return out;
    }

    @Test
    void saveLoadIsBitExactAndTrainingContinuesIdentically() throws Exception {
        SyntheticData data = new SyntheticData(7, SPEC);
        TrainingState original = TrainingState.fresh(SPEC, 7);
        train(original, data, 5);

        CheckpointStore store = new CheckpointStore(tmp.resolve("a"));
        CheckpointWriter.Saved saved =
                new CheckpointWriter().save(store, original, meta(original), 1, "t1", 1, "test");
        CheckpointReader.Loaded loaded = new CheckpointReader().load(store, 5, SPEC);
        assertThat(loaded.digest()).isEqualTo(saved.digest());
        assertThat(loaded.manifest().stateDigest()).isEqualTo(saved.stateDigest());

        Map<String, INDArray> before = original.tensors();
        assertThat(loaded.tensors().keySet()).containsExactlyElementsOf(before.keySet());
        assertThat(before).hasSize(18);
        for (Map.Entry<String, INDArray> e : before.entrySet()) {
            INDArray back = loaded.tensors().get(e.getKey());
            assertThat(back.shape()).as(e.getKey()).isEqualTo(e.getValue().shape());
            assertThat(bits(back)).as(e.getKey()).isEqualTo(bits(e.getValue()));
        }
        // The Adam moments are real state (non-zero after 5 steps), not just zeros that trivially
        // round-trip.
        assertThat(original.secondMoments().get("layer0.W").sumNumber().doubleValue())
                .isGreaterThan(0);

        // Saving the loaded state gives byte-identical tensor files and the same stateDigest.
        TrainingState restored = TrainingState.of(SPEC, 7, 5, loaded.tensors());
        CheckpointStore store2 = new CheckpointStore(tmp.resolve("b"));
        CheckpointWriter.Saved again =
                new CheckpointWriter().save(store2, restored, meta(restored), 2, "t9", 1, "test");
        assertThat(again.stateDigest()).isEqualTo(saved.stateDigest());
        assertThat(again.digest())
                .isNotEqualTo(saved.digest()); // attempt/timeline/time differ: another checkpoint
        for (String name : before.keySet()) {
            assertThat(Files.readAllBytes(again.dir().resolve(name + ".f32le")))
                    .isEqualTo(Files.readAllBytes(saved.dir().resolve(name + ".f32le")));
        }

        // Continuing from the original and from the restored state stays bit-identical.
        train(original, data, 3);
        train(restored, data, 3);
        for (Map.Entry<String, INDArray> e : original.tensors().entrySet()) {
            assertThat(bits(restored.tensors().get(e.getKey())))
                    .as(e.getKey())
                    .isEqualTo(bits(e.getValue()));
        }
    }
}
