package dev.phoenix.trainer.optim;

import java.util.Map;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * AdamW (decoupled weight decay, applied to weight matrices only). Its state is the first and second
 * moment per parameter plus the iteration count, all of which are checkpointed.
 */
public record AdamW(double beta1, double beta2, double eps, double weightDecay) {

  /**
   * One update with iteration number {@code t} (1-based: the first update is t = 1) and learning rate
   * {@code lr}. Element-wise operations only, so the result is deterministic.
   */
  public void apply(Map<String, INDArray> params, Map<String, INDArray> grads, Map<String, INDArray> m,
      Map<String, INDArray> v, long t, double lr) {
    double bc1 = 1.0 - StrictMath.pow(beta1, t);
    double bc2 = 1.0 - StrictMath.pow(beta2, t);
    for (Map.Entry<String, INDArray> e : params.entrySet()) {
      String name = e.getKey();
      INDArray w = e.getValue();
      INDArray g = grads.get(name);
      INDArray mi = m.get(name);
      INDArray vi = v.get(name);
      mi.muli(beta1).addi(g.mul(1.0 - beta1));
      vi.muli(beta2).addi(g.mul(g).muli(1.0 - beta2));
      INDArray denom = Transforms.sqrt(vi.div(bc2), false).addi(eps);
      INDArray update = mi.div(bc1).divi(denom).muli(lr);
      if (weightDecay != 0 && name.endsWith(".W")) {
        w.muli(1.0 - lr * weightDecay);
      }
      w.subi(update);
    }
  }
}
