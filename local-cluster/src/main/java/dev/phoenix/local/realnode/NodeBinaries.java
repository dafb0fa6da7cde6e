package dev.phoenix.local.realnode;

import dev.phoenix.local.process.ManagedProcess;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The directory with containerd, containerd-shim-runc-v2, ctr, crictl, runc, cni/ and the pause
 * image archive. Order: env {@code PHOENIX_NODE_BIN_DIR} (or system property {@code
 * phoenix.node.binDir}); else {@code hack/node-binaries.sh} of the repository containing the
 * working directory (it provisions them and prints the directory; the first run builds containerd
 * from its Go module, minutes on 2 cores).
 */
public final class NodeBinaries {
    public static final String ENV_BIN_DIR = "PHOENIX_NODE_BIN_DIR";
    public static final String PROPERTY_BIN_DIR = "phoenix.node.binDir";
    public static final String SCRIPT = "hack/node-binaries.sh";
    static final List<String> NAMES =
            List.of(
                    "containerd",
                    "containerd-shim-runc-v2",
                    "ctr",
                    "crictl",
                    "runc",
                    "cni/bridge",
                    "cni/host-local",
                    "cni/portmap",
                    "cni/loopback",
                    "pause.oci.tar",
                    "probe.oci.tar");

    private static volatile Path cached;

    private NodeBinaries() {}

    public static synchronized Path locate() {
        if (cached != null && complete(cached)) {
            return cached;
        }
        String explicit = System.getProperty(PROPERTY_BIN_DIR, System.getenv(ENV_BIN_DIR));
        if (explicit != null && !explicit.isBlank()) {
            Path dir = Path.of(explicit).toAbsolutePath();
            if (!complete(dir)) {
                throw new IllegalStateException(ENV_BIN_DIR + "=" + dir + " lacks one of " + NAMES);
            }
            return cached = dir;
        }
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            Path script = p.resolve(SCRIPT);
            if (Files.isRegularFile(script)) {
                return cached = run(script);
            }
        }
        throw new IllegalStateException(
                "node binaries not found: set "
                        + ENV_BIN_DIR
                        + " or run inside the Phoenix repository ("
                        + SCRIPT
                        + " provisions them)");
    }

    static boolean complete(Path dir) {
        return NAMES.stream().allMatch(n -> Files.exists(dir.resolve(n)));
    }

    private static Path run(Path script) {
        try {
            Path log = Files.createTempFile("phoenix-node-binaries-", ".log");
            Process p =
                    new ProcessBuilder("bash", script.toString())
                            .directory(script.getParent().getParent().toFile())
                            .redirectError(ProcessBuilder.Redirect.appendTo(log.toFile()))
                            .redirectInput(
                                    ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                            .start();
            String out =
                    new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
            if (!p.waitFor(60, TimeUnit.MINUTES)) {
                p.destroyForcibly();
                throw new IllegalStateException(script + " timed out; log " + log);
            }
            String last = out.isEmpty() ? "" : out.substring(out.lastIndexOf('\n') + 1).strip();
            if (p.exitValue() != 0 || last.isEmpty() || !complete(Path.of(last))) {
                throw new IllegalStateException(
                        script
                                + " failed (exit "
                                + p.exitValue()
                                + ", last line '"
                                + last
                                + "'); log "
                                + log
                                + ":\n"
                                + ManagedProcess.tail(log, 40));
            }
            Files.deleteIfExists(log);
            return Path.of(last);
        } catch (IOException e) {
            throw new IllegalStateException("cannot run " + script + ": " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while provisioning node binaries", e);
        }
    }
}
