package dev.phoenix.trainer.optim;

import java.util.HashMap;
import java.util.Map;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * AdamW (decoupled weight decay, applied to weight matrices only). Its state is the first and
 * second moment per parameter plus the iteration count, all of which are checkpointed. Every
 * operation is element-wise and in place (one scratch buffer per parameter, which is not state):
 * allocating ND4J temporaries costs ~10x more than the arithmetic.
 */
public final class AdamW {
    private final double beta1;
    private final double beta2;
    private final double eps;
    private final double weightDecay;
    private final Map<String, INDArray> scratch = new HashMap<>();

    public AdamW(double beta1, double beta2, double eps, double weightDecay) {
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
        this.weightDecay = weightDecay;
    }

    /**
     * One update with iteration number {@code t} (1-based: the first update is t = 1) and learning
     * rate {@code lr}: m = b1 m + (1-b1) g; v = b2 v + (1-b2) g²; w ← w (1 - lr wd) - (lr /
     * (1-b1^t)) m / (sqrt(v / (1-b2^t)) + eps).
     */
    public void apply(
            Map<String, INDArray> params,
            Map<String, INDArray> grads,
            Map<String, INDArray> m,
            Map<String, INDArray> v,
            long t,
            double lr) {
        double bc1 = 1.0 - StrictMath.pow(beta1, t);
        double bc2 = 1.0 - StrictMath.pow(beta2, t);
        for (Map.Entry<String, INDArray> e : params.entrySet()) {
            String name = e.getKey();
            INDArray w = e.getValue();
            INDArray g = grads.get(name);
            INDArray mi = m.get(name);
            INDArray vi = v.get(name);
            INDArray s =
                    scratch.computeIfAbsent(
                            name, k -> Nd4j.createUninitialized(w.dataType(), w.shape(), 'c'));
            mi.muli(beta1).addi(s.assign(g).muli(1.0 - beta1));
            vi.muli(beta2).addi(s.assign(g).muli(g).muli(1.0 - beta2));
            s.assign(vi).divi(bc2);
            Transforms.sqrt(s, false).addi(eps); // s = denominator
            s.rdivi(mi).muli(lr / bc1); // s = update
            if (weightDecay != 0 && name.endsWith(".W")) {
                w.muli(1.0 - lr * weightDecay);
            }
            w.subi(s);
        }
    }
}
