package dev.phoenix.local.realnode;

import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * A real node as its own process, until SIGTERM: {@code real-node --name n1 --kubeconfig
 * admin.kubeconfig --node-kubeconfig n1.kubeconfig --client-ca ca.crt [--image
 * trainer-image/target/jib-image.tar]...}. Prints {@code READY <work dir>} once the Node is Ready.
 * {@code real-node cleanup} removes what crashed runs left on this machine.
 */
@Command(
        name = "real-node",
        mixinStandardHelpOptions = true,
        subcommands = RealNodeMain.Cleanup.class,
        description = "Runs a kubelet + containerd node joined to a control plane until SIGTERM.")
public final class RealNodeMain implements Callable<Integer> {
    @Option(names = "--name", defaultValue = "node-1", description = "Node name.")
    String name;

    @Option(
            names = "--kubeconfig",
            required = true,
            description = "A kubeconfig allowed to read and patch Nodes.")
    Path kubeconfig;

    @Option(
            names = "--node-kubeconfig",
            required = true,
            description = "The kubelet's kubeconfig (system:node:<name>).")
    Path nodeKubeconfig;

    @Option(
            names = "--client-ca",
            required = true,
            description = "CA of the API server's kubelet client certificate.")
    Path clientCa;

    @Option(names = "--work-dir", description = "Work dir (default a new /tmp/phx-node-*).")
    Path workDir;

    @Option(names = "--image", description = "Image archive to import (repeatable).")
    List<Path> images = new ArrayList<>();

    @Option(
            names = "--extended-resource",
            description = "name=quantity in the Node's capacity, e.g. nvidia.com/gpu=1.")
    List<String> extended = new ArrayList<>();

    @Override
    public Integer call() throws Exception {
        Config cfg =
                Config.fromKubeconfig(null, Files.readString(kubeconfig), kubeconfig.toString());
        try (KubernetesClient client = new KubernetesClientBuilder().withConfig(cfg).build()) {
            RealNode.Builder b =
                    RealNode.builder()
                            .name(name)
                            .kubeconfig(nodeKubeconfig)
                            .clientCa(clientCa)
                            .client(client);
            if (workDir != null) {
                b.workDir(workDir);
            }
            images.forEach(b::image);
            for (String e : extended) {
                String[] kv = e.split("=", 2);
                if (kv.length != 2) {
                    throw new CommandLine.ParameterException(
                            new CommandLine(this),
                            "--extended-resource: expected name=quantity, got " + e);
                }
                b.extendedResource(kv[0], kv[1]);
            }
            RealNode node = b.start();
            CountDownLatch stopped = new CountDownLatch(1);
            Runtime.getRuntime()
                    .addShutdownHook(
                            new Thread(
                                    () -> {
                                        node.close();
                                        stopped.countDown();
                                    },
                                    "real-node-stop"));
            System.out.println(
                    "READY " + node.workDir() + " " + node.startTime().toMillis() + "ms");
            System.out.flush();
            stopped.await();
            return 0;
        }
    }

    @Command(
            name = "cleanup",
            description =
                    "Removes what earlier runs that did not stop cleanly left on this machine.")
    static final class Cleanup implements Callable<Integer> {
        @Override
        public Integer call() throws Exception {
            HostRegistry r = HostRegistry.machine();
            r.locked(
                    () -> {
                        RealNodeCleanup.cleanOrphans(r);
                        return null;
                    });
            return 0;
        }
    }

    public static void main(String[] args) {
        System.exit(new CommandLine(new RealNodeMain()).execute(args));
    }
}
