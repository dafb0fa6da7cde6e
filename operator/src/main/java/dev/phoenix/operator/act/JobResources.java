package dev.phoenix.operator.act;

import dev.phoenix.api.v1alpha1.TrainingJob;
import dev.phoenix.operator.Names;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.ObjectMeta;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.ServiceAccountBuilder;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.rbac.PolicyRuleBuilder;
import io.fabric8.kubernetes.api.model.rbac.Role;
import io.fabric8.kubernetes.api.model.rbac.RoleBinding;
import io.fabric8.kubernetes.api.model.rbac.RoleBindingBuilder;
import io.fabric8.kubernetes.api.model.rbac.RoleBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.util.List;
import java.util.Map;

/**
 * The objects every job needs besides its pods, all owned by the job so deleting it removes them:
 * the headless Service for rank discovery, the report ConfigMap, and a trainer identity that may
 * get/patch/update that one ConfigMap by name and nothing else.
 */
public final class JobResources {
    private JobResources() {}

    public static List<HasMetadata> desired(TrainingJob job) {
        String name = job.getMetadata().getName();
        String ns = job.getMetadata().getNamespace();
        Map<String, String> labels = Map.of(Names.LABEL_JOB, name);

        Service service =
                new ServiceBuilder()
                        .withMetadata(meta(job, Names.service(name), labels))
                        .withNewSpec()
                        .withClusterIP("None")
                        // Ranks must find each other before they report Ready.
                        .withPublishNotReadyAddresses(true)
                        .withSelector(labels)
                        .addNewPort()
                        .withName("rendezvous")
                        .withPort(job.getSpec().masterPortOrDefault())
                        .endPort()
                        .endSpec()
                        .build();
        ConfigMap report =
                new ConfigMapBuilder()
                        .withMetadata(meta(job, Names.reportConfigMap(name), labels))
                        .build();
        ServiceAccount sa =
                new ServiceAccountBuilder()
                        .withMetadata(meta(job, Names.trainerIdentity(name), labels))
                        .build();
        Role role =
                new RoleBuilder()
                        .withMetadata(meta(job, Names.trainerIdentity(name), labels))
                        .withRules(
                                new PolicyRuleBuilder()
                                        .withApiGroups("")
                                        .withResources("configmaps")
                                        .withResourceNames(Names.reportConfigMap(name))
                                        .withVerbs("get", "patch", "update")
                                        .build())
                        .build();
        String subject =
                job.getSpec().getTemplate().getSpec().getServiceAccountName() != null
                        ? job.getSpec().getTemplate().getSpec().getServiceAccountName()
                        : Names.trainerIdentity(name);
        RoleBinding binding =
                new RoleBindingBuilder()
                        .withMetadata(meta(job, Names.trainerIdentity(name), labels))
                        .withNewRoleRef()
                        .withApiGroup("rbac.authorization.k8s.io")
                        .withKind("Role")
                        .withName(Names.trainerIdentity(name))
                        .endRoleRef()
                        .addNewSubject()
                        .withKind("ServiceAccount")
                        .withName(subject)
                        .withNamespace(ns)
                        .endSubject()
                        .build();
        return List.of(report, sa, role, binding, service);
    }

    /**
     * Creates what is missing; never overwrites (the report ConfigMap holds the trainer's data).
     */
    public static void ensure(KubernetesClient client, TrainingJob job) {
        for (HasMetadata r : desired(job)) {
            try {
                client.resource(r).create();
            } catch (KubernetesClientException e) {
                if (e.getCode() != 409) {
                    throw e;
                }
            }
        }
    }

    private static ObjectMeta meta(TrainingJob job, String name, Map<String, String> labels) {
        return new ObjectMetaBuilder()
                .withName(name)
                .withNamespace(job.getMetadata().getNamespace())
                .withLabels(labels)
                .withOwnerReferences(WorkerPodFactory.ownerReference(job))
                .build();
    }
}
