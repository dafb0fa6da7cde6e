package dev.phoenix.trainer.data;

import dev.phoenix.trainer.model.ModelSpec;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * Deterministic synthetic classification data: sample {@code g} of the global stream has inputs
 * drawn from N(0,1) with a seed derived from (seed, g), and its label is the argmax of a fixed
 * random "teacher" network (input -> 32 tanh -> classes) built from the seed. A batch depends only
 * on (seed, cursor), so the data cursor (= the step) is the whole data-loader state. The student
 * can learn the teacher, so the loss visibly falls.
 */
public final class SyntheticData {
    public static final String GENERATOR = "teacher-mlp-v1";
    private static final int TEACHER_HIDDEN = 32;

    private final long seed;
    private final int input;
    private final int classes;
    private final INDArray teacherW1;
    private final INDArray teacherW2;

    public SyntheticData(long seed, ModelSpec spec) {
        this.seed = seed;
        this.input = spec.input();
        this.classes = spec.classes();
        this.teacherW1 =
                gaussian(
                        SplitMix64.derive(seed, 7001),
                        input,
                        TEACHER_HIDDEN,
                        2.0 / StrictMath.sqrt(input));
        this.teacherW2 =
                gaussian(
                        SplitMix64.derive(seed, 7002),
                        TEACHER_HIDDEN,
                        classes,
                        2.0 / StrictMath.sqrt(TEACHER_HIDDEN));
    }

    private static INDArray gaussian(long streamSeed, int rows, int cols, double scale) {
        SplitMix64 r = new SplitMix64(streamSeed);
        float[] v = new float[rows * cols];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) (r.nextGaussian() * scale);
        }
        return Nd4j.createFromArray(v).reshape('c', rows, cols);
    }

    /**
     * Rows {@code [from, to)} of the global batch number {@code cursor} of size {@code
     * globalBatch}.
     */
    public Batch batch(long cursor, int globalBatch, int from, int to) {
        int rows = to - from;
        float[] x = new float[rows * input];
        for (int i = 0; i < rows; i++) {
            long sample = cursor * globalBatch + from + i;
            SplitMix64 r = new SplitMix64(SplitMix64.derive(seed, 1, sample));
            for (int j = 0; j < input; j++) {
                x[i * input + j] = (float) r.nextGaussian();
            }
        }
        INDArray features = Nd4j.createFromArray(x).reshape('c', rows, input);
        INDArray logits = Transforms.tanh(features.mmul(teacherW1), false).mmul(teacherW2);
        long[] labels = Nd4j.argMax(logits, 1).toLongVector();
        float[] onehot = new float[rows * classes];
        int[] lab = new int[rows];
        for (int i = 0; i < rows; i++) {
            lab[i] = (int) labels[i];
            onehot[i * classes + lab[i]] = 1f;
        }
        return new Batch(
                features,
                Nd4j.createFromArray(onehot).reshape('c', rows, classes).castTo(DataType.FLOAT),
                lab);
    }

    public record Batch(INDArray features, INDArray onehot, int[] labels) {}
}
