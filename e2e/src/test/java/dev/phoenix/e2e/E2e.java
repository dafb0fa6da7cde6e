package dev.phoenix.e2e;

import static org.assertj.core.api.Assertions.fail;

import dev.phoenix.api.v1alpha1.TrainingJob;
import dev.phoenix.api.v1alpha1.TrainingJobStatus;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.function.Predicate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One Phoenix stack per test JVM, shared by every e2e test class (each test uses its own
 * namespace).
 */
final class E2e {
    private static final Logger LOG = LoggerFactory.getLogger(E2e.class);

    /**
     * nvidia.com/gpu per node: ChaosIT's 13 workers fit on two nodes, and a node's loss leaves room
     * on the other.
     */
    static final int GPUS_PER_NODE = 8;

    private static PhoenixStack stack;
    private static PodAuditor auditor;

    private E2e() {}

    static synchronized PhoenixStack stack() {
        if (stack == null) {
            try {
                Path dir =
                        Path.of("target", "e2e-" + ProcessHandle.current().pid()).toAbsolutePath();
                stack =
                        PhoenixStack.builder()
                                .workDir(dir)
                                .keepWorkDir(true)
                                .nodes(2)
                                .gpusPerNode(GPUS_PER_NODE)
                                .start();
                auditor = new PodAuditor(stack.admin());
                Runtime.getRuntime()
                        .addShutdownHook(
                                new Thread(
                                        () -> {
                                            auditor.close();
                                            stack.close();
                                        },
                                        "e2e-stack-shutdown"));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return stack;
    }

    /**
     * Watches every worker pod since the stack started: two attempts of one job at once is a
     * violation.
     */
    static synchronized PodAuditor auditor() {
        stack();
        return auditor;
    }

    /**
     * A random source whose seed is logged (and can be fixed with -Dphoenix.e2e.seed=N to replay a
     * run).
     */
    static Random random(String what) {
        long seed = Long.getLong("phoenix.e2e.seed", System.nanoTime());
        LOG.info("{}: random seed {} (replay with -Dphoenix.e2e.seed={})", what, seed, seed);
        System.out.println(what + ": random seed " + seed);
        return new Random(seed);
    }

    static TrainingJob create(PhoenixStack s, String ns, String name, JobConfig cfg)
            throws IOException {
        TrainingJob job = TrainingJobs.job(ns, name, cfg, s.checkpointDir(ns, name));
        return s.admin().resources(TrainingJob.class).inNamespace(ns).resource(job).create();
    }

    /**
     * {@code kubectl patch tj <name> --type=merge -p {"spec":<spec>}}, as a user changes a running
     * job; returns kubectl's output.
     */
    static String patchSpec(PhoenixStack s, String ns, String name, String spec)
            throws IOException, InterruptedException {
        return s.kubectl(
                "patch", "tj", name, "-n", ns, "--type=merge", "-p", "{\"spec\":" + spec + "}");
    }

    /**
     * Polls the job's status until {@code until} holds; fails with the status and the operator's
     * log otherwise.
     */
    static TrainingJobStatus await(
            PhoenixStack s,
            String ns,
            String name,
            Duration timeout,
            String what,
            Predicate<TrainingJobStatus> until) {
        KubernetesClient c = s.admin();
        long deadline = System.nanoTime() + timeout.toNanos();
        TrainingJobStatus st = null;
        while (System.nanoTime() < deadline) {
            try {
                st = TrainingJobs.status(c, ns, name);
                if (until.test(st)) {
                    return st;
                }
                if ("Failed".equals(TrainingJobs.phase(st)) && !what.contains("Failed")) {
                    break;
                }
            } catch (RuntimeException e) {
                LOG.warn("status of {}/{}: {}", ns, name, e.toString());
            }
            sleep(250);
        }
        fail(
                "%s/%s: not %s within %s; status: %s%noperator log (tail):%n%s",
                ns,
                name,
                what,
                timeout,
                st == null ? null : io.fabric8.kubernetes.client.utils.Serialization.asYaml(st),
                s.operator().tail());
        return st;
    }

    /**
     * Polls {@code condition} every 250 ms until it holds; fails naming {@code what} after {@code
     * timeout}.
     */
    static void until(Duration timeout, String what, java.util.function.BooleanSupplier condition) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            try {
                if (condition.getAsBoolean()) {
                    return;
                }
            } catch (RuntimeException e) {
                LOG.warn("{}: {}", what, e.toString());
            }
            sleep(250);
        }
        fail("not %s within %s", what, timeout);
    }

    static boolean succeeded(TrainingJobStatus s) {
        return "Succeeded".equals(TrainingJobs.phase(s));
    }

    static long step(TrainingJobStatus s) {
        return s.getCurrentStep() == null ? -1 : s.getCurrentStep();
    }

    static long checkpoint(TrainingJobStatus s) {
        return s.getLatestCheckpoint() == null || s.getLatestCheckpoint().getStep() == null
                ? -1
                : s.getLatestCheckpoint().getStep();
    }

    static int attempt(TrainingJobStatus s) {
        return s.getAttempt() == null ? 0 : s.getAttempt();
    }

    static long resumedFrom(TrainingJobStatus s) {
        return s.getResumedFromStep() == null ? 0 : s.getResumedFromStep();
    }

    /** The attempt's whole gang runs and has trained at least one step of this attempt. */
    static boolean training(
            PhoenixStack s, String ns, String name, TrainingJobStatus st, int replicas) {
        return "Running".equals(TrainingJobs.phase(st))
                && step(st) > resumedFrom(st)
                && TrainingJobs.runningPods(s.admin(), ns, name, attempt(st)).size() == replicas;
    }

    /**
     * Waits until attempt {@code attempt} of the job trains with its whole gang, lets it train 1-50
     * more steps (a random moment chosen by the job's own progress, never by the clock), checks it
     * is still well short of the end, and returns a random running worker of it: the victim of the
     * next disruption.
     */
    static Pod victimMidAttempt(
            PhoenixStack s, String ns, String name, JobConfig cfg, int attempt, Random rnd) {
        TrainingJobStatus st =
                await(
                        s,
                        ns,
                        name,
                        Duration.ofMinutes(3),
                        "training in attempt " + attempt,
                        x -> attempt(x) == attempt && training(s, ns, name, x, cfg.replicas()));
        long target = step(st) + 1 + rnd.nextInt(50);
        st =
                await(
                        s,
                        ns,
                        name,
                        Duration.ofMinutes(2),
                        "at step " + target + " of attempt " + attempt,
                        x -> attempt(x) == attempt && step(x) >= target);
        org.assertj.core.api.Assertions.assertThat(step(st))
                .as("job must still be training when disruption %d comes", attempt)
                .isLessThan(cfg.steps() - 20L);
        List<Pod> pods = TrainingJobs.runningPods(s.admin(), ns, name, attempt);
        org.assertj.core.api.Assertions.assertThat(pods).hasSize(cfg.replicas());
        LOG.info("attempt {} at step {}", attempt, step(st));
        return pods.get(rnd.nextInt(pods.size()));
    }

    static void sleep(long ms) {
        PhoenixStack.sleep(ms);
    }
}
