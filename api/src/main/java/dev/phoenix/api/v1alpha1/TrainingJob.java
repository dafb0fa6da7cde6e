package dev.phoenix.api.v1alpha1;

import io.fabric8.crd.generator.annotation.AdditionalPrinterColumn;
import io.fabric8.kubernetes.api.model.Namespaced;
import io.fabric8.kubernetes.client.CustomResource;
import io.fabric8.kubernetes.model.annotation.Group;
import io.fabric8.kubernetes.model.annotation.Kind;
import io.fabric8.kubernetes.model.annotation.Plural;
import io.fabric8.kubernetes.model.annotation.ShortNames;
import io.fabric8.kubernetes.model.annotation.Singular;
import io.fabric8.kubernetes.model.annotation.Version;

/**
 * A training job: a gang of {@code replicas} worker pods that Phoenix starts, watches and, after a
 * preemption or a failure, restarts together from the latest valid checkpoint.
 */
@Group(TrainingJob.GROUP)
@Version(TrainingJob.VERSION)
@Kind("TrainingJob")
@Plural("trainingjobs")
@Singular("trainingjob")
@ShortNames("tj")
@AdditionalPrinterColumn(name = "Phase", jsonPath = ".status.phase", type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(name = "Step", jsonPath = ".status.currentStep", type = AdditionalPrinterColumn.Type.INTEGER)
@AdditionalPrinterColumn(name = "Checkpoint", jsonPath = ".status.latestCheckpoint.step", type = AdditionalPrinterColumn.Type.INTEGER)
@AdditionalPrinterColumn(name = "Restarts", jsonPath = ".status.restarts", type = AdditionalPrinterColumn.Type.INTEGER)
@AdditionalPrinterColumn(name = "Preemptions", jsonPath = ".status.preemptions", type = AdditionalPrinterColumn.Type.INTEGER, priority = 1)
@AdditionalPrinterColumn(name = "Failures", jsonPath = ".status.failures", type = AdditionalPrinterColumn.Type.INTEGER, priority = 1)
@AdditionalPrinterColumn(name = "Age", jsonPath = ".metadata.creationTimestamp", type = AdditionalPrinterColumn.Type.DATE)
public class TrainingJob extends CustomResource<TrainingJobSpec, TrainingJobStatus> implements Namespaced {
    public static final String GROUP = "phoenix.dev";
    public static final String VERSION = "v1alpha1";

    @Override
    protected TrainingJobStatus initStatus() {
        return new TrainingJobStatus();
    }
}
