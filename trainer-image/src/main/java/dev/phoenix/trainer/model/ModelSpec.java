package dev.phoenix.trainer.model;

import java.util.ArrayList;
import java.util.List;

/**
 * Shape of the MLP: {@code input -> hidden x layers -> classes}. Layer {@code i} has parameters
 * {@code layer<i>.W} ({@code [fanIn, fanOut]}) and {@code layer<i>.b} ({@code [fanOut]}); the last
 * layer produces logits. Names depend only on the shape, never on how the model was built.
 */
public record ModelSpec(int input, int hidden, int layers, int classes) {

    public ModelSpec {
        if (input < 1 || hidden < 1 || layers < 0 || classes < 2) {
            throw new IllegalArgumentException(
                    "invalid model shape " + input + "/" + hidden + "x" + layers + "/" + classes);
        }
    }

    /** Number of weight layers (hidden layers plus the output layer). */
    public int weightLayers() {
        return layers + 1;
    }

    public int fanIn(int layer) {
        return layer == 0 ? input : hidden;
    }

    public int fanOut(int layer) {
        return layer == layers ? classes : hidden;
    }

    public static String weightName(int layer) {
        return "layer" + layer + ".W";
    }

    public static String biasName(int layer) {
        return "layer" + layer + ".b";
    }

    /** Canonical parameter names with their shapes, in canonical order. */
    public List<TensorSpec> parameters() {
        List<TensorSpec> out = new ArrayList<>();
        for (int l = 0; l < weightLayers(); l++) {
            out.add(new TensorSpec(weightName(l), new long[] {fanIn(l), fanOut(l)}));
            out.add(new TensorSpec(biasName(l), new long[] {fanOut(l)}));
        }
        return out;
    }

    /** Multiply-accumulate count of one forward pass per sample (weights only). */
    public long macsPerSample() {
        long macs = 0;
        for (int l = 0; l < weightLayers(); l++) {
            macs += (long) fanIn(l) * fanOut(l);
        }
        return macs;
    }

    public long parameterCount() {
        long n = 0;
        for (TensorSpec t : parameters()) {
            n += t.elements();
        }
        return n;
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder().append(input);
        for (int i = 0; i < layers; i++) {
            sb.append('-').append(hidden);
        }
        return sb.append('-').append(classes).toString();
    }

    public record TensorSpec(String name, long[] shape) {
        public long elements() {
            long n = 1;
            for (long d : shape) {
                n *= d;
            }
            return n;
        }
    }
}
