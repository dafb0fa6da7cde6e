package dev.phoenix.local.controlplane;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code phoenix-controlplane start --dir DIR [--scheduler] [--controller-manager]}: runs a local
 * Kubernetes control plane (the release hack/k8s-binaries.sh pins) until Ctrl-C / SIGTERM.
 */
@Command(
        name = "phoenix-controlplane",
        mixinStandardHelpOptions = true,
        subcommands = {ControlPlaneMain.Start.class, ControlPlaneMain.Binaries.class},
        description =
                "Local Kubernetes control plane (etcd, kube-apiserver, optional kube-scheduler and kube-controller-manager).")
public final class ControlPlaneMain implements Runnable {

    public static void main(String[] args) {
        System.exit(new CommandLine(new ControlPlaneMain()).execute(args));
    }

    @Override
    public void run() {
        new CommandLine(this).usage(System.out);
    }

    @Command(
            name = "start",
            mixinStandardHelpOptions = true,
            description = "Start the control plane and run until interrupted.")
    static final class Start implements Callable<Integer> {
        @Option(
                names = "--dir",
                required = true,
                description =
                        "Work dir (certificates, etcd data, logs, kubeconfig). Must be empty, absent or a previous run's.")
        Path dir;

        @Option(names = "--scheduler", description = "Also run kube-scheduler.")
        boolean scheduler;

        @Option(names = "--controller-manager", description = "Also run kube-controller-manager.")
        boolean controllerManager;

        @Option(names = "--keep", description = "Keep the work dir after stopping.")
        boolean keep;

        @Option(
                names = "--default-toleration-seconds",
                description =
                        "tolerationSeconds of the default not-ready/unreachable tolerations (Kubernetes default 300).")
        Integer tolerationSeconds;

        @Option(
                names = "--bin-dir",
                description =
                        "Directory with the binaries (default: PHOENIX_K8S_BIN_DIR or hack/k8s-binaries.sh).")
        Path binDir;

        @Override
        public Integer call() throws Exception {
            ControlPlane.Builder b =
                    ControlPlane.builder()
                            .workDir(dir)
                            .withScheduler(scheduler)
                            .withControllerManager(controllerManager)
                            .keepWorkDir(keep);
            if (binDir != null) {
                b.binDir(binDir);
            }
            if (tolerationSeconds != null) {
                b.defaultNotReadyTolerationSeconds(tolerationSeconds)
                        .defaultUnreachableTolerationSeconds(tolerationSeconds);
            }
            ControlPlane cp = b.build();
            CountDownLatch stopped = new CountDownLatch(1);
            // ControlPlane's own shutdown hook stops the processes on Ctrl-C / SIGTERM.
            Runtime.getRuntime()
                    .addShutdownHook(new Thread(stopped::countDown, "phoenix-cp-main-exit"));
            cp.start();
            System.out.println("API server:  " + cp.masterUrl());
            System.out.println("kubectl:     " + cp.kubectl());
            System.out.println("logs:        " + cp.logDir());
            System.out.println("kubeconfig:  " + cp.kubeconfigPath());
            System.out.println("export KUBECONFIG=" + cp.kubeconfigPath());
            System.out.flush();
            stopped.await();
            return 0;
        }
    }

    @Command(
            name = "binaries",
            mixinStandardHelpOptions = true,
            description = "Provision the Kubernetes binaries and print their directory.")
    static final class Binaries implements Callable<Integer> {
        @Override
        public Integer call() {
            System.out.println(KubernetesBinaries.locate());
            return 0;
        }
    }
}
