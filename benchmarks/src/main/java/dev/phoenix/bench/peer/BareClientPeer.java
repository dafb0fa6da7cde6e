package dev.phoenix.bench.peer;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;

/**
 * The floor: the least a gang controller can do. One informer on the gang's pods; on the first sign
 * of a disruption (a {@code DisruptionTarget} condition, a deletion timestamp, a pod gone) it
 * deletes every pod of the generation at once, waits until its cache holds none (never two
 * generations at once, as Phoenix), and creates the next generation at once, up to 32 calls in
 * flight. No status, no events, no checkpoint bookkeeping, no validation.
 */
final class BareClientPeer implements Peer {
    /** The user agent of this peer's client (audit log). */
    static final String USER_AGENT = "phoenix-bare-client";

    private final KubernetesClient client;
    private final ExecutorService pool =
            Executors.newFixedThreadPool(
                    32,
                    r -> {
                        Thread t = new Thread(r, "bare-client-call");
                        t.setDaemon(true);
                        return t;
                    });
    private final Semaphore wake = new Semaphore(0);
    private volatile boolean closed;
    private volatile int lastDeletedGeneration;
    private SharedIndexInformer<Pod> informer;
    private Thread loop;
    private String ns;
    private int replicas;
    private int generation;
    private boolean restarting;

    /**
     * With a headless Service over the gang and every pod named in it (hostname + subdomain), as
     * Phoenix and JobSet give each rank its DNS name: the same gang, so that the endpoint
     * controllers' writes for it (per pod change) load the API server as they do for those peers.
     */
    private final boolean gangService;

    BareClientPeer(KubernetesClient client, boolean gangService) {
        this.client = client;
        this.gangService = gangService;
    }

    @Override
    public String name() {
        return gangService
                ? "bare client + the gang's headless Service (per-pod DNS, as Phoenix and JobSet)"
                : "bare client (watch, delete gang, create gang)";
    }

    @Override
    public String job() {
        return gangService ? "baredns" : "bare";
    }

    @Override
    public boolean restartsWholeGang() {
        return true;
    }

    @Override
    public void startMany(String ns, int n) throws Exception {
        // the floor of "n one-pod jobs": the pods themselves, created by a client, nothing else
        Peer.createAll(
                n,
                i ->
                        client.pods()
                                .inNamespace(ns)
                                .resource(
                                        new io.fabric8.kubernetes.api.model.PodBuilder()
                                                .withMetadata(
                                                        new io.fabric8.kubernetes.api.model
                                                                        .ObjectMetaBuilder()
                                                                .withName(job() + "-" + i)
                                                                .addToLabels(
                                                                        SimulatedPods.JOB_LABEL,
                                                                        job())
                                                                .build())
                                                .withSpec(
                                                        SimulatedPods.template(job(), Map.of())
                                                                .getSpec())
                                                .build())
                                .create());
    }

    @Override
    public void start(String ns, int replicas) throws Exception {
        this.ns = ns;
        this.replicas = replicas;
        informer =
                client.pods()
                        .inNamespace(ns)
                        .withLabel(SimulatedPods.JOB_LABEL, job())
                        .inform(
                                new ResourceEventHandler<>() {
                                    @Override
                                    public void onAdd(Pod pod) {
                                        wake.release();
                                    }

                                    @Override
                                    public void onUpdate(Pod oldPod, Pod pod) {
                                        wake.release();
                                    }

                                    @Override
                                    public void onDelete(Pod pod, boolean unknownFinalState) {
                                        lastDeletedGeneration =
                                                Math.max(lastDeletedGeneration, generationOf(pod));
                                        wake.release();
                                    }
                                },
                                0);
        if (gangService) {
            client.services()
                    .inNamespace(ns)
                    .resource(
                            new io.fabric8.kubernetes.api.model.ServiceBuilder()
                                    .withNewMetadata()
                                    .withName(job())
                                    .endMetadata()
                                    .withNewSpec()
                                    .withClusterIP("None")
                                    .withPublishNotReadyAddresses(true)
                                    .withSelector(Map.of(SimulatedPods.JOB_LABEL, job()))
                                    .addNewPort()
                                    .withName("rendezvous")
                                    .withPort(29500)
                                    .endPort()
                                    .endSpec()
                                    .build())
                    .create();
        }
        generation = 1;
        all(ranks(), this::create);
        loop = new Thread(this::run, "bare-client");
        loop.setDaemon(true);
        loop.start();
    }

    private void run() {
        while (!closed) {
            try {
                wake.tryAcquire(1, TimeUnit.SECONDS);
                wake.drainPermits();
                step();
            } catch (InterruptedException e) {
                return;
            } catch (RuntimeException e) {
                if (!closed) {
                    System.err.println("bare client: " + e);
                }
            }
        }
    }

    private void step() {
        List<Pod> current =
                informer.getStore().list().stream()
                        .filter(p -> generationOf(p) == generation)
                        .toList();
        if (!restarting
                && (lastDeletedGeneration >= generation
                        || current.stream().anyMatch(BareClientPeer::disrupted))) {
            restarting = true;
            all(current, p -> client.pods().inNamespace(ns).resource(p).delete());
        }
        if (restarting && current.isEmpty()) {
            generation++;
            restarting = false;
            all(ranks(), this::create);
        }
    }

    private static boolean disrupted(Pod p) {
        return p.getMetadata().getDeletionTimestamp() != null
                || (p.getStatus() != null
                        && p.getStatus().getConditions() != null
                        && p.getStatus().getConditions().stream()
                                .anyMatch(c -> "DisruptionTarget".equals(c.getType())));
    }

    private List<Integer> ranks() {
        List<Integer> l = new ArrayList<>();
        for (int r = 0; r < replicas; r++) {
            l.add(r);
        }
        return l;
    }

    private void create(int rank) {
        var template =
                SimulatedPods.template(
                        job(), Map.of(SimulatedPods.ATTEMPT_LABEL, Integer.toString(generation)));
        Pod pod =
                new PodBuilder()
                        .withNewMetadata()
                        // A name per generation: KWOK finishes the old pods' deletions by name,
                        // and a late one would hit a new pod of the same name.
                        .withName(job() + "-g" + generation + "-worker-" + rank)
                        .withNamespace(ns)
                        .withLabels(template.getMetadata().getLabels())
                        .endMetadata()
                        .withSpec(template.getSpec())
                        .build();
        if (gangService) {
            pod.getSpec().setHostname(pod.getMetadata().getName());
            pod.getSpec().setSubdomain(job());
        }
        client.pods().inNamespace(ns).resource(pod).create();
    }

    private <T> void all(List<T> items, java.util.function.Consumer<T> call) {
        CompletableFuture.allOf(
                        items.stream()
                                .map(i -> CompletableFuture.runAsync(() -> call.accept(i), pool))
                                .toArray(CompletableFuture[]::new))
                .join();
    }

    private static int generationOf(Pod p) {
        Map<String, String> l = p.getMetadata().getLabels();
        return l == null ? 0 : Integer.parseInt(l.getOrDefault(SimulatedPods.ATTEMPT_LABEL, "0"));
    }

    @Override
    public void close() {
        closed = true;
        if (informer != null) {
            informer.close();
        }
        if (loop != null) {
            loop.interrupt();
        }
        pool.shutdownNow();
        if (ns != null) {
            client.pods().inNamespace(ns).withLabel(SimulatedPods.JOB_LABEL, job()).delete();
        }
    }
}
