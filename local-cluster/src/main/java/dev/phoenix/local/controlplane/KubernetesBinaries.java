package dev.phoenix.local.controlplane;

import dev.phoenix.local.process.ManagedProcess;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Finds the directory holding {@code etcd kube-apiserver kube-scheduler kube-controller-manager
 * kubelet kube-proxy kubectl kwok coredns} of the Kubernetes release {@code hack/k8s-binaries.sh}
 * pins.
 *
 * <p>Order: env {@code PHOENIX_K8S_BIN_DIR} (or system property {@code phoenix.k8s.binDir}); else
 * {@code hack/k8s-binaries.sh} of the repository containing the working directory (it provisions
 * them: cache, download or a build from the published Go modules, and prints the directory); else
 * the default cache {@code ~/.cache/phoenix/k8s/v<VERSION>/bin} if complete.
 */
public final class KubernetesBinaries {
    /**
     * The release CI runs on; must match PINNED_K8S_VERSION in hack/k8s-binaries.sh
     * (KubernetesBinariesTest).
     */
    public static final String PINNED_VERSION = "1.37.2";

    /**
     * The release in use: {@code PHOENIX_K8S_VERSION} (as for hack/k8s-binaries.sh), else the
     * pinned one.
     */
    public static final String VERSION =
            System.getenv()
                    .getOrDefault("PHOENIX_K8S_VERSION", PINNED_VERSION)
                    .replaceFirst("^v", "");

    public static final String ENV_BIN_DIR = "PHOENIX_K8S_BIN_DIR";
    public static final String PROPERTY_BIN_DIR = "phoenix.k8s.binDir";
    public static final String SCRIPT = "hack/k8s-binaries.sh";
    static final List<String> NAMES =
            List.of(
                    "etcd",
                    "kube-apiserver",
                    "kube-scheduler",
                    "kube-controller-manager",
                    "kubelet",
                    "kube-proxy",
                    "kubectl",
                    "kwok",
                    "coredns");

    private static volatile Path cached;

    private KubernetesBinaries() {}

    /** The bin directory, provisioning it if needed (may take minutes the very first time). */
    public static synchronized Path locate() {
        if (cached != null && complete(cached)) {
            return cached;
        }
        String explicit = System.getProperty(PROPERTY_BIN_DIR, System.getenv(ENV_BIN_DIR));
        if (explicit != null && !explicit.isBlank()) {
            Path dir = Paths.get(explicit).toAbsolutePath();
            if (!complete(dir)) {
                throw new IllegalStateException(ENV_BIN_DIR + "=" + dir + " lacks one of " + NAMES);
            }
            return cached = dir;
        }
        Path script = findScript(Paths.get("").toAbsolutePath());
        if (script != null) {
            return cached = runScript(script);
        }
        String cacheRoot =
                System.getenv()
                        .getOrDefault(
                                "PHOENIX_K8S_DIR",
                                System.getProperty("user.home")
                                        + "/.cache/phoenix/k8s/v"
                                        + VERSION);
        Path dir = Paths.get(cacheRoot, "bin");
        if (complete(dir)) {
            return cached = dir;
        }
        throw new IllegalStateException(
                "Kubernetes "
                        + VERSION
                        + " binaries not found: set "
                        + ENV_BIN_DIR
                        + ", or run from inside the Phoenix repository (which has "
                        + SCRIPT
                        + "), or provision "
                        + dir);
    }

    static boolean complete(Path dir) {
        return NAMES.stream().allMatch(n -> Files.isExecutable(dir.resolve(n)));
    }

    /** Walks up from {@code start} to the directory that contains {@code hack/k8s-binaries.sh}. */
    public static Path findScript(Path start) {
        for (Path p = start; p != null; p = p.getParent()) {
            Path candidate = p.resolve(SCRIPT);
            if (Files.isRegularFile(candidate)) {
                return candidate;
            }
        }
        return null;
    }

    private static Path runScript(Path script) {
        Path log;
        try {
            log = Files.createTempFile("phoenix-k8s-binaries-", ".log");
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        try {
            Process p =
                    new ProcessBuilder("bash", script.toString())
                            .directory(script.getParent().getParent().toFile())
                            .redirectError(ProcessBuilder.Redirect.appendTo(log.toFile()))
                            .redirectInput(
                                    ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                            .start();
            byte[] out = p.getInputStream().readAllBytes(); // until the script closes stdout
            if (!p.waitFor(60, TimeUnit.MINUTES)) {
                p.destroyForcibly();
                throw new IllegalStateException(script + " timed out; log " + log);
            }
            String stdout = new String(out, StandardCharsets.UTF_8).strip();
            String last =
                    stdout.isEmpty() ? "" : stdout.substring(stdout.lastIndexOf('\n') + 1).strip();
            if (p.exitValue() != 0 || last.isEmpty() || !complete(Paths.get(last))) {
                throw new IllegalStateException(
                        script
                                + " failed (exit "
                                + p.exitValue()
                                + ", stdout '"
                                + last
                                + "'); its log "
                                + log
                                + ":\n"
                                + ManagedProcess.tail(log, 40));
            }
            Files.deleteIfExists(log);
            return Paths.get(last);
        } catch (IOException e) {
            throw new IllegalStateException("cannot run " + script + ": " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while provisioning binaries", e);
        }
    }
}
