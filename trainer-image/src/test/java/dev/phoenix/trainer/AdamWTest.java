package dev.phoenix.trainer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.phoenix.trainer.optim.AdamW;
import dev.phoenix.trainer.optim.LrSchedule;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/** The in-place AdamW matches a scalar reference, and the schedule has the documented shape. */
class AdamWTest {

    @Test
    void matchesScalarReference() {
        float[] w0 = {0.5f, -1.25f, 2f, 0.1f};
        float[] g0 = {0.3f, -0.2f, 1e-3f, -4f};
        INDArray w = Nd4j.createFromArray(w0.clone()).reshape('c', 2, 2);
        INDArray b = Nd4j.createFromArray(w0.clone());
        INDArray m = Nd4j.zeros(w.dataType(), 2, 2);
        INDArray v = Nd4j.zeros(w.dataType(), 2, 2);
        INDArray mb = Nd4j.zeros(w.dataType(), 4);
        INDArray vb = Nd4j.zeros(w.dataType(), 4);
        AdamW adam = new AdamW(0.9, 0.999, 1e-8, 0.1);
        double[] rw = toDouble(w0);
        double[] rm = new double[4];
        double[] rv = new double[4];
        for (int t = 1; t <= 3; t++) {
            double lr = 0.01 * t;
            INDArray g = Nd4j.createFromArray(g0.clone()).reshape('c', 2, 2).muli(t);
            adam.apply(
                    Map.of("x.W", w, "x.b", b),
                    Map.of("x.W", g, "x.b", g.reshape(4)),
                    Map.of("x.W", m, "x.b", mb),
                    Map.of("x.W", v, "x.b", vb),
                    t,
                    lr);
            for (int i = 0; i < 4; i++) {
                double gi = g0[i] * t;
                rm[i] = 0.9 * rm[i] + 0.1 * gi;
                rv[i] = 0.999 * rv[i] + 0.001 * gi * gi;
                double update =
                        lr
                                / (1 - Math.pow(0.9, t))
                                * rm[i]
                                / (Math.sqrt(rv[i] / (1 - Math.pow(0.999, t))) + 1e-8);
                rw[i] = rw[i] * (1 - lr * 0.1) - update;
            }
        }
        float[] got = w.reshape(4).toFloatVector();
        for (int i = 0; i < 4; i++) {
            assertThat((double) got[i]).as("w[%d]", i).isCloseTo(rw[i], within(1e-5));
        }
        // Biases get no weight decay.
        assertThat((double) b.getFloat(3)).isNotCloseTo(got[3], within(1e-7));
    }

    @Test
    void scheduleWarmsUpThenDecaysToMinimum() {
        LrSchedule s = new LrSchedule(1.0, 0.1, 10, 110);
        assertThat(s.at(0)).isCloseTo(0.1, within(1e-12));
        assertThat(s.at(9)).isCloseTo(1.0, within(1e-12));
        assertThat(s.at(60)).isCloseTo(0.55, within(1e-12));
        assertThat(s.at(110)).isCloseTo(0.1, within(1e-12));
        assertThat(s.at(500)).isCloseTo(0.1, within(1e-12));
    }

    private static double[] toDouble(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) {
            d[i] = f[i];
        }
        return d;
    }
}
