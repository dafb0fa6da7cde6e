package dev.phoenix.local.node;

import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

/** CLI of the local node agent: {@code local-node [options]} runs it, {@code local-node preempt ...} disrupts a pod. */
@Command(name = "local-node", mixinStandardHelpOptions = true, subcommands = {LocalNodeMain.Preempt.class},
        description = "Runs a local node agent (kubelet stand-in) against a Kubernetes API server.")
public final class LocalNodeMain implements Callable<Integer> {

    @Option(names = "--kubeconfig", description = "kubeconfig of the API server (default: $KUBECONFIG / ~/.kube/config)")
    Path kubeconfig;

    @Option(names = "--name", defaultValue = "local-node", description = "node name (default: ${DEFAULT-VALUE})")
    String name;

    @Option(names = "--gpus", defaultValue = "0", description = "nvidia.com/gpu capacity to advertise")
    int gpus;

    @Option(names = "--cpu", description = "cpu capacity (default 8)")
    String cpu;

    @Option(names = "--memory", description = "memory capacity (default 32Gi)")
    String memory;

    @Option(names = "--work-dir", description = "pod dirs, logs, PVC dirs (default ~/.cache/phoenix/nodes/<name>)")
    Path workDir;

    @Option(names = "--bind-pods", description = "bind pending pods to this node (when no kube-scheduler runs)")
    boolean bindPods;

    @Option(names = "--images", description = "extra images.yaml (its entries win over the built-in ones)")
    Path images;

    @Option(names = "--var", description = "NAME=VALUE for ${NAME} in images.yaml, e.g. PHOENIX_TRAINER_CLASSPATH=...")
    Map<String, String> vars = new LinkedHashMap<>();

    @Option(names = "--label", description = "node label KEY=VALUE")
    Map<String, String> labels = new LinkedHashMap<>();

    @Option(names = "--no-bwrap", description = "do not use bubblewrap mount namespaces")
    boolean noBwrap;

    @Option(names = "--delete-node-on-exit", description = "delete the Node object when the agent stops")
    boolean deleteNode;

    static KubernetesClient client(Path kubeconfig) throws Exception {
        if (kubeconfig == null) {
            return new KubernetesClientBuilder().build();
        }
        Config cfg = Config.fromKubeconfig(Files.readString(kubeconfig));
        return new KubernetesClientBuilder().withConfig(cfg).build();
    }

    @Override
    public Integer call() throws Exception {
        KubernetesClient client = client(kubeconfig);
        LocalNode.Builder b = LocalNode.builder().client(client).name(name).gpus(gpus).workDir(workDir)
                .bindUnscheduledPods(bindPods).deleteNodeOnClose(deleteNode).labels(labels);
        if (cpu != null) {
            b.cpu(cpu);
        }
        if (memory != null) {
            b.memory(memory);
        }
        if (images != null) {
            b.images(ImageMapping.defaults().with(ImageMapping.load(images)));
        }
        if (noBwrap) {
            b.useBwrap(false);
        }
        vars.forEach(b::variable);
        LocalNode node = b.start();
        System.out.println("local node " + name + " running (bwrap: " + node.useBwrap() + ", work dir " + node.workDir() + "); Ctrl-C stops it");
        CountDownLatch stop = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            node.close();
            client.close();
            stop.countDown();
        }));
        stop.await();
        return 0;
    }

    @Command(name = "preempt", mixinStandardHelpOptions = true,
            description = "Disrupts a pod as a cluster would. Reasons: PreemptionByScheduler, EvictionByEvictionAPI, "
                    + "DeletionByTaintManager, DeletionByPodGC, TerminationByKubelet (DisruptionTarget + graceful delete), "
                    + "Eviction (the Eviction API), NodeLoss (SIGKILL the pod's node agent and all its processes, delete the Node, "
                    + "force-delete its pods; needs --work-dir of that agent), Kill (application failure: SIGKILL the container; "
                    + "needs --work-dir, --container).")
    static final class Preempt implements Callable<Integer> {
        @Option(names = "--kubeconfig")
        Path kubeconfig;

        @Option(names = {"-n", "--namespace"}, defaultValue = "default")
        String namespace;

        @Parameters(index = "0", description = "pod name")
        String pod;

        @Option(names = "--reason", defaultValue = "PreemptionByScheduler")
        String reason;

        @Option(names = "--grace", description = "grace period seconds (default: the pod's)")
        Long grace;

        @Option(names = "--work-dir", description = "work dir of the node agent (NodeLoss, Kill)")
        Path workDir;

        @Option(names = "--container", description = "container (Kill; default: the first)")
        String container;

        @Option(names = "--keep-node", description = "NodeLoss: leave the Node (NotReady) for the controller manager")
        boolean keepNode;

        @Override
        public Integer call() throws Exception {
            try (KubernetesClient client = client(kubeconfig)) {
                Disruptions d = new Disruptions(client);
                switch (reason) {
                    case "Eviction", "Evict" -> {
                        boolean ok = d.evict(namespace, pod);
                        System.out.println(ok ? "evicted" : "eviction refused (PodDisruptionBudget)");
                        return ok ? 0 : 2;
                    }
                    case "NodeLoss" -> {
                        var p = client.pods().inNamespace(namespace).withName(pod).get();
                        Path wd = workDir != null ? workDir : defaultWorkDir(p == null ? "local-node" : p.getSpec().getNodeName());
                        d.nodeLoss(wd, !keepNode, !keepNode);
                    }
                    case "Kill" -> {
                        var p = client.pods().inNamespace(namespace).withName(pod).get();
                        String c = container != null ? container : p.getSpec().getContainers().get(0).getName();
                        Path wd = workDir != null ? workDir : defaultWorkDir(p.getSpec().getNodeName());
                        Disruptions.kill(wd, namespace, pod, c, "KILL");
                    }
                    default -> d.disruptionTarget(namespace, pod, reason, null, grace);
                }
                System.out.println(reason + ": done");
                return 0;
            }
        }

        private static Path defaultWorkDir(String node) {
            String base = System.getenv("PHOENIX_LOCAL_NODE_DIR");
            return base != null ? Path.of(base).resolve(node) : Path.of(System.getProperty("user.home"), ".cache", "phoenix", "nodes", node);
        }
    }

    public static void main(String[] args) {
        System.exit(new CommandLine(new LocalNodeMain()).execute(args));
    }

}
