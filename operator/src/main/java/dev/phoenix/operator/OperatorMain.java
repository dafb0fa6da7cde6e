package dev.phoenix.operator;

import dev.phoenix.operator.config.OperatorConfig;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine;

/** Entry point of the operator process (in-cluster config, or KUBECONFIG when run locally). */
public final class OperatorMain {
    private OperatorMain() {}

    public static void main(String[] args) throws Exception {
        OperatorConfig config = new OperatorConfig();
        CommandLine cli = new CommandLine(config);
        cli.parseArgs(args);
        if (cli.isUsageHelpRequested()) {
            cli.usage(System.out);
            return;
        }
        if (cli.isVersionHelpRequested()) {
            cli.printVersionHelp(System.out);
            return;
        }
        KubernetesClient client = new KubernetesClientBuilder().build();
        PhoenixOperator operator = PhoenixOperator.start(client, config);
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime()
                .addShutdownHook(
                        new Thread(
                                () -> {
                                    operator.close();
                                    client.close();
                                    stopped.countDown();
                                },
                                "phoenix-shutdown"));
        stopped.await();
    }
}
