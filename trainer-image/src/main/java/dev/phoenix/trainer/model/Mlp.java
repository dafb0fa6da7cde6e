package dev.phoenix.trainer.model;

import dev.phoenix.trainer.data.SyntheticData;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * ReLU MLP with softmax cross-entropy, forward and backward written out with ND4J matrix
 * operations. Writing the backward pass by hand (instead of SameDiff) keeps every piece of
 * optimizer state in our hands, under canonical names, and lets ranks average gradients before the
 * update.
 */
public final class Mlp {
    private Mlp() {}

    /**
     * Gradients of the mean loss over the global batch, computed on this rank's rows. {@code
     * lossSum} is the sum over this rank's rows of -log p(label) divided by {@code globalBatch};
     * summed over ranks it is the mean loss of the global batch.
     */
    public static Result lossAndGradients(
            ModelSpec spec,
            Map<String, INDArray> params,
            SyntheticData.Batch batch,
            int globalBatch) {
        int nl = spec.weightLayers();
        List<INDArray> activations = new ArrayList<>(nl); // input of layer l
        List<INDArray> preacts = new ArrayList<>(nl);
        INDArray a = batch.features();
        for (int l = 0; l < nl; l++) {
            activations.add(a);
            INDArray z = a.mmul(params.get(ModelSpec.weightName(l)));
            z.addiRowVector(params.get(ModelSpec.biasName(l)));
            preacts.add(z);
            a = l == nl - 1 ? z : Transforms.relu(z, true);
        }
        INDArray probs = Transforms.softmax(a, true);
        float[][] p = probs.toFloatMatrix();
        double loss = 0;
        int[] labels = batch.labels();
        for (int i = 0; i < labels.length; i++) {
            loss -= Math.log(Math.max(p[i][labels[i]], 1e-30f));
        }
        loss /= globalBatch;

        LinkedHashMap<String, INDArray> grads = new LinkedHashMap<>();
        INDArray dz = probs.subi(batch.onehot()).divi(globalBatch);
        INDArray[] dW = new INDArray[nl];
        INDArray[] db = new INDArray[nl];
        for (int l = nl - 1; l >= 0; l--) {
            dW[l] = Nd4j.gemm(activations.get(l), dz, true, false);
            db[l] = dz.sum(0);
            if (l > 0) {
                INDArray da = Nd4j.gemm(dz, params.get(ModelSpec.weightName(l)), false, true);
                dz = da.muli(Transforms.step(preacts.get(l - 1), true));
            }
        }
        for (int l = 0; l < nl; l++) {
            grads.put(ModelSpec.weightName(l), dW[l]);
            grads.put(ModelSpec.biasName(l), db[l]);
        }
        return new Result(loss, grads);
    }

    public record Result(double lossSum, LinkedHashMap<String, INDArray> gradients) {}
}
