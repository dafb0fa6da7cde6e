package dev.phoenix.trainer.model;

import dev.phoenix.trainer.data.SplitMix64;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The complete training state: parameters, AdamW first and second moments per parameter, and the
 * step counter, which is at the same time the optimizer iteration count, the learning-rate schedule
 * position, the data cursor and the RNG counter (all randomness is counter-based, see {@link
 * SplitMix64}).
 */
public final class TrainingState {
    public static final String M_PREFIX = "optimizer.m.";
    public static final String V_PREFIX = "optimizer.v.";

    private final ModelSpec spec;
    private final long seed;
    private final LinkedHashMap<String, INDArray> params = new LinkedHashMap<>();
    private final LinkedHashMap<String, INDArray> m = new LinkedHashMap<>();
    private final LinkedHashMap<String, INDArray> v = new LinkedHashMap<>();
    private long step;

    private TrainingState(ModelSpec spec, long seed) {
        this.spec = spec;
        this.seed = seed;
    }

    /** Fresh state: He-normal weights from the seed, zero biases, zero moments, step 0. */
    public static TrainingState fresh(ModelSpec spec, long seed) {
        TrainingState s = new TrainingState(spec, seed);
        for (int l = 0; l < spec.weightLayers(); l++) {
            int in = spec.fanIn(l);
            int out = spec.fanOut(l);
            SplitMix64 r = new SplitMix64(SplitMix64.derive(seed, 9001, l));
            float[] w = new float[in * out];
            double scale = StrictMath.sqrt(2.0 / in);
            for (int i = 0; i < w.length; i++) {
                w[i] = (float) (r.nextGaussian() * scale);
            }
            s.params.put(ModelSpec.weightName(l), Nd4j.createFromArray(w).reshape('c', in, out));
            s.params.put(ModelSpec.biasName(l), Nd4j.zeros(DataType.FLOAT, out));
        }
        for (Map.Entry<String, INDArray> e : s.params.entrySet()) {
            s.m.put(e.getKey(), Nd4j.zeros(DataType.FLOAT, e.getValue().shape()));
            s.v.put(e.getKey(), Nd4j.zeros(DataType.FLOAT, e.getValue().shape()));
        }
        return s;
    }

    /**
     * State from loaded tensors (canonical name to array); the caller has checked names and shapes.
     */
    public static TrainingState of(
            ModelSpec spec, long seed, long step, Map<String, INDArray> tensors) {
        TrainingState s = new TrainingState(spec, seed);
        for (ModelSpec.TensorSpec t : spec.parameters()) {
            s.params.put(t.name(), require(tensors, t.name()));
            s.m.put(t.name(), require(tensors, M_PREFIX + t.name()));
            s.v.put(t.name(), require(tensors, V_PREFIX + t.name()));
        }
        s.step = step;
        return s;
    }

    private static INDArray require(Map<String, INDArray> tensors, String name) {
        INDArray a = tensors.get(name);
        if (a == null) {
            throw new IllegalArgumentException("missing tensor " + name);
        }
        return a;
    }

    /** Every tensor of the state with its shape, in canonical order. */
    public static List<ModelSpec.TensorSpec> expectedTensors(ModelSpec spec) {
        List<ModelSpec.TensorSpec> out = new ArrayList<>(spec.parameters());
        for (ModelSpec.TensorSpec t : spec.parameters()) {
            out.add(new ModelSpec.TensorSpec(M_PREFIX + t.name(), t.shape()));
        }
        for (ModelSpec.TensorSpec t : spec.parameters()) {
            out.add(new ModelSpec.TensorSpec(V_PREFIX + t.name(), t.shape()));
        }
        return out;
    }

    /** All tensors under their canonical names, in canonical order (parameters, then m, then v). */
    public LinkedHashMap<String, INDArray> tensors() {
        LinkedHashMap<String, INDArray> out = new LinkedHashMap<>(params);
        m.forEach((k, a) -> out.put(M_PREFIX + k, a));
        v.forEach((k, a) -> out.put(V_PREFIX + k, a));
        return out;
    }

    public ModelSpec spec() {
        return spec;
    }

    public long seed() {
        return seed;
    }

    public long step() {
        return step;
    }

    public void advance() {
        step++;
    }

    public LinkedHashMap<String, INDArray> params() {
        return params;
    }

    public LinkedHashMap<String, INDArray> firstMoments() {
        return m;
    }

    public LinkedHashMap<String, INDArray> secondMoments() {
        return v;
    }

    public long bytes() {
        long n = 0;
        for (INDArray a : tensors().values()) {
            n += a.length() * 4L;
        }
        return n;
    }
}
