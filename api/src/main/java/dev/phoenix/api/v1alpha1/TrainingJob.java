package dev.phoenix.api.v1alpha1;

import io.fabric8.crd.generator.annotation.AdditionalPrinterColumn;
import io.fabric8.generator.annotation.ValidationRule;
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
@AdditionalPrinterColumn(
        name = "Phase",
        jsonPath = ".status.phase",
        type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(
        name = "Step",
        jsonPath = ".status.currentStep",
        type = AdditionalPrinterColumn.Type.INTEGER)
@AdditionalPrinterColumn(
        name = "Checkpoint",
        jsonPath = ".status.latestCheckpoint.step",
        type = AdditionalPrinterColumn.Type.INTEGER)
@AdditionalPrinterColumn(
        name = "Restarts",
        jsonPath = ".status.restarts",
        type = AdditionalPrinterColumn.Type.INTEGER)
@AdditionalPrinterColumn(
        name = "Preemptions",
        jsonPath = ".status.preemptions",
        type = AdditionalPrinterColumn.Type.INTEGER,
        priority = 1)
@AdditionalPrinterColumn(
        name = "Failures",
        jsonPath = ".status.failures",
        type = AdditionalPrinterColumn.Type.INTEGER,
        priority = 1)
@AdditionalPrinterColumn(
        name = "Age",
        jsonPath = ".metadata.creationTimestamp",
        type = AdditionalPrinterColumn.Type.DATE)
// The job's name becomes the headless Service's name and, as <job>-worker-<rank>, each pod's name
// and hostname: a DNS-1035 label of at most 63 characters. The schema cannot see metadata.name, so
// these two CEL rules refuse at admission a name that would otherwise leave every pod Pending.
@ValidationRule(
        value = "self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')",
        message =
                "metadata.name must be a DNS-1035 label (lower-case letters, digits and '-', starting with a letter, no dots): it names the job's Service and, as <name>-worker-<rank>, the hostnames of its workers",
        reason = "FieldValueInvalid")
// A static message: the CEL cost estimator cannot bound the strings a messageExpression would build
// here, and the API server refuses such a CRD as too expensive.
@ValidationRule(
        value =
                "!has(self.spec) || !has(self.spec.replicas) || size(self.metadata.name) + 8 + size(string(self.spec.replicas - 1)) <= 63",
        message =
                "metadata.name is too long for its replicas: every worker hostname <name>-worker-<rank> must fit in 63 characters, so the name may have at most 54 characters for up to 10 replicas, 53 for up to 100, 52 for up to 1000",
        reason = "FieldValueInvalid")
public class TrainingJob extends CustomResource<TrainingJobSpec, TrainingJobStatus>
        implements Namespaced {
    public static final String GROUP = "phoenix.dev";
    public static final String VERSION = "v1alpha1";

    @Override
    protected TrainingJobStatus initStatus() {
        return new TrainingJobStatus();
    }
}
