package dev.phoenix.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.phoenix.operator.PhoenixOperator;
import dev.phoenix.operator.config.OperatorConfig;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryUsage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The operator as its own JVM for the scale benchmark, so that its heap, CPU time and API requests
 * are its own: PhoenixOperator on a Fabric8 client whose every request is counted ({@link
 * RequestCounter}), leader election on (as deployed). Reads commands on stdin: {@code stats} prints
 * one line {@code STATS {json}} (heap after a full GC, process CPU seconds, requests by verb and
 * resource); {@code quit} stops it.
 *
 * <pre>java -cp … dev.phoenix.bench.ScaleOperatorProcess KUBECONFIG</pre>
 */
public final class ScaleOperatorProcess {
    public static void main(String[] args) throws Exception {
        Quiet.logging();
        Config config = Config.fromKubeconfig(Files.readString(Path.of(args[0])));
        RequestCounter counter = new RequestCounter();
        KubernetesClient client =
                new KubernetesClientBuilder()
                        .withConfig(config)
                        .withHttpClientBuilderConsumer(
                                h -> h.addOrReplaceInterceptor("phoenix-bench-counter", counter))
                        .build();
        PhoenixOperator op =
                PhoenixOperator.start(
                        client,
                        new OperatorConfig()
                                .withHttpPort(0)
                                .withLeaderElection(true)
                                .withLeaseNamespace("default")
                                .withExitOnLostLeadership(false));
        ObjectMapper json = new ObjectMapper();
        System.out.println("READY");
        System.out.flush();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        for (String line; (line = in.readLine()) != null; ) {
            if (line.equals("stats")) {
                Map<String, Object> s = new LinkedHashMap<>();
                for (int i = 0; i < 3; i++) {
                    System.gc();
                }
                MemoryUsage heap = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage();
                s.put("heapUsedAfterGc", heap.getUsed());
                s.put("heapCommitted", heap.getCommitted());
                s.put("cpuSeconds", BenchEnv.processCpuSeconds());
                s.put("threads", ManagementFactory.getThreadMXBean().getThreadCount());
                s.put("requests", counter.snapshot());
                System.out.println("STATS " + json.writeValueAsString(s));
                System.out.flush();
            } else if (line.equals("quit")) {
                break;
            }
        }
        op.close();
        client.close();
        System.exit(0);
    }

    private ScaleOperatorProcess() {}
}
