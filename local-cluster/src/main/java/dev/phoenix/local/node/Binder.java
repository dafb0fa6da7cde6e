package dev.phoenix.local.node;

import io.fabric8.kubernetes.api.model.Binding;
import io.fabric8.kubernetes.api.model.BindingBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A minimal stand-in for kube-scheduler: binds pending pods of the default scheduler to this node through
 * the Binding subresource when nodeSelector, taints/tolerations and resource requests (cpu, memory, pods,
 * extended resources such as nvidia.com/gpu) fit. Higher priority first; it never preempts (the real
 * kube-scheduler does that).
 */
final class Binder {

    private static final Logger log = LoggerFactory.getLogger(Binder.class);

    private final LocalNode node;
    private SharedIndexInformer<Pod> informer;
    private final Map<String, Pod> bound = new ConcurrentHashMap<>();
    private final Object signal = new Object();
    private volatile boolean stopped;
    private boolean kicked;
    private Thread thread;

    Binder(LocalNode node) {
        this.node = node;
    }

    void start() {
        informer = node.client().pods().inAnyNamespace().withField("spec.nodeName", "").inform(new ResourceEventHandler<>() {
            @Override
            public void onAdd(Pod obj) {
                kick();
            }

            @Override
            public void onUpdate(Pod oldObj, Pod newObj) {
                kick();
            }

            @Override
            public void onDelete(Pod obj, boolean deletedFinalStateUnknown) {
                kick();
            }
        }, 0);
        thread = new Thread(this::loop, "binder-" + node.name());
        thread.setDaemon(true);
        thread.start();
    }

    void kick() {
        synchronized (signal) {
            kicked = true;
            signal.notifyAll();
        }
    }

    void stop() {
        stopped = true;
        if (informer != null) {
            informer.stop();
        }
        kick();
    }

    private void loop() {
        while (!stopped) {
            try {
                synchronized (signal) {
                    if (!kicked) {
                        signal.wait(2000);
                    }
                    kicked = false;
                }
                if (!stopped) {
                    bindPending();
                }
            } catch (InterruptedException e) {
                return;
            } catch (Exception e) {
                log.warn("binder: {}", e.toString());
            }
        }
    }

    private void bindPending() {
        List<Pod> pending = new ArrayList<>();
        for (Pod p : informer.getStore().list()) {
            String sched = p.getSpec().getSchedulerName();
            String mine = node.binderSchedulerName();
            boolean ours = mine.equals(sched) || ((sched == null || sched.isEmpty()) && "default-scheduler".equals(mine));
            if (ours && p.getMetadata().getDeletionTimestamp() == null && (p.getSpec().getNodeName() == null || p.getSpec().getNodeName().isEmpty())
                    && !bound.containsKey(p.getMetadata().getUid())) {
                pending.add(p);
            }
        }
        pending.sort(Comparator.comparing((Pod p) -> p.getSpec().getPriority() == null ? 0 : -p.getSpec().getPriority())
                .thenComparing(p -> p.getMetadata().getCreationTimestamp()));
        // what counts against this node: pods its workers run, plus pods bound here not yet seen by them
        List<Pod> assigned = new ArrayList<>(node.activePods());
        bound.keySet().removeIf(uid -> node.activePods().stream().anyMatch(p -> p.getMetadata().getUid().equals(uid))
                || node.client().pods().inNamespace(bound.get(uid).getMetadata().getNamespace()).withName(bound.get(uid).getMetadata().getName()).get() == null);
        assigned.addAll(bound.values());
        for (Pod p : pending) {
            String why = node.unfit(p, assigned);
            if (why != null) {
                log.debug("binder: {}/{} does not fit: {}", p.getMetadata().getNamespace(), p.getMetadata().getName(), why);
                continue;
            }
            Binding b = new BindingBuilder().withNewMetadata().withName(p.getMetadata().getName()).withNamespace(p.getMetadata().getNamespace())
                    .withUid(p.getMetadata().getUid()).endMetadata()
                    .withNewTarget().withApiVersion("v1").withKind("Node").withName(node.name()).endTarget().build();
            try {
                node.client().bindings().inNamespace(p.getMetadata().getNamespace()).resource(b).create();
                bound.put(p.getMetadata().getUid(), p);
                assigned.add(p);
                log.info("binder: bound {}/{} to {}", p.getMetadata().getNamespace(), p.getMetadata().getName(), node.name());
            } catch (KubernetesClientException e) {
                if (e.getCode() != 409) {
                    log.warn("binder: binding {}/{} failed: {}", p.getMetadata().getNamespace(), p.getMetadata().getName(), e.getMessage());
                }
            }
        }
    }
}
