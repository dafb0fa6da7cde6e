package dev.phoenix.local.realnode;

import dev.phoenix.local.process.ManagedProcess;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One node's containerd (with runc and CNI), everything under {@code <work>/containerd}: its root,
 * state, temp and opt dirs, its sockets, runc's root, and (with {@code
 * netns_mounts_under_state_dir}) the pods' network namespaces. Each node has its own: a kubelet
 * treats every sandbox of its runtime as its own and stops the ones it does not know, so kubelets
 * must never share a containerd.
 *
 * <p>Settings, and why (see also shared/STACK.md, "A real node on these VMs"):
 *
 * <ul>
 *   <li>{@code restrict_oom_score_adj = true}: the VMs lack CAP_SYS_RESOURCE; runc would fail every
 *       sandbox ("can't get final child's PID from pipe: EOF") trying to lower oom_score_adj;
 *   <li>{@code pinned_images.sandbox} = the local pause image, {@code disable_pause_image_pull}: no
 *       registry;
 *   <li>runc with {@code SystemdCgroup = false} (the kubelet takes the cgroupfs driver from the
 *       CRI);
 *   <li>no NRI, no TCP CRI service; the streaming server on 127.0.0.1 only; the {@code opt}
 *       plugin's dir moved from /opt/containerd;
 *   <li>only the overlayfs and native snapshotters (btrfs/zfs/devmapper/erofs/blockfile are off).
 * </ul>
 */
final class ContainerRuntime implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ContainerRuntime.class);

    /** The sandbox image; hack/node-binaries.sh makes its archive (bin/pause.oci.tar). */
    static final String PAUSE_IMAGE = "docker.io/phoenix/pause:1.0";

    /** Longest unix socket path Linux accepts (sun_path is 108 bytes with the terminating NUL). */
    private static final int MAX_SOCKET_PATH = 107;

    private final Path dir;
    private final Path binDir;
    private final Path cniConfDir;
    private ManagedProcess process;

    ContainerRuntime(Path dir, Path binDir, Path cniConfDir) {
        this.dir = dir;
        this.binDir = binDir;
        this.cniConfDir = cniConfDir;
    }

    Path socket() {
        return dir.resolve("containerd.sock");
    }

    /** {@code unix://…}, for the kubelet's containerRuntimeEndpoint. */
    String endpoint() {
        return "unix://" + socket();
    }

    Path stateDir() {
        return dir.resolve("state");
    }

    Path logFile() {
        return dir.getParent().resolve("logs/containerd.log");
    }

    ContainerRuntime start(Duration timeout) throws IOException {
        String sock = socket().toString();
        if (sock.length() + ".ttrpc".length() > MAX_SOCKET_PATH) {
            throw new IllegalArgumentException(
                    "node work dir too long for containerd's socket "
                            + sock
                            + ".ttrpc ("
                            + (sock.length() + 6)
                            + " > "
                            + MAX_SOCKET_PATH
                            + " bytes): choose a shorter workDir");
        }
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("config.toml"), config(), StandardCharsets.UTF_8);
        return startWithExistingConfig(timeout);
    }

    /**
     * Starts containerd on the config.toml already in its dir (also to tear down after a crash).
     */
    ContainerRuntime startWithExistingConfig(Duration timeout) throws IOException {
        String sock = socket().toString();
        Path config = dir.resolve("config.toml");
        process =
                ManagedProcess.builder(
                                "containerd",
                                List.of(
                                        binDir.resolve("containerd").toString(),
                                        "--config",
                                        config.toString()))
                        .logFile(logFile())
                        .appendLog(true)
                        .workDir(dir)
                        // containerd finds containerd-shim-runc-v2 on PATH
                        .environment(
                                env ->
                                        env.put(
                                                "PATH",
                                                binDir
                                                        + ":"
                                                        + env.getOrDefault(
                                                                "PATH",
                                                                "/usr/sbin:/usr/bin:/sbin:/bin")))
                        .start();
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!ctr(List.of("version")).ok()) {
            if (!process.isAlive()) {
                throw new IOException("containerd exited: " + process.describeForError());
            }
            if (System.nanoTime() > deadline) {
                throw new IOException(
                        "containerd not answering on "
                                + sock
                                + " after "
                                + timeout
                                + ": "
                                + process.describeForError());
            }
            sleep(100);
        }
        return this;
    }

    boolean isRunning() {
        return process != null && process.isAlive();
    }

    String config() {
        String w = dir.toString();
        return """
        # Written by dev.phoenix.local.realnode.ContainerRuntime: one node's containerd, all under this dir.
        version = 3
        root = "%1$s/root"
        state = "%1$s/state"
        temp = "%1$s/tmp"
        disabled_plugins = ["io.containerd.nri.v1.nri", "io.containerd.snapshotter.v1.btrfs",
          "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
          "io.containerd.snapshotter.v1.blockfile", "io.containerd.snapshotter.v1.erofs"]

        [grpc]
          address = "%1$s/containerd.sock"
        [ttrpc]
          address = "%1$s/containerd.sock.ttrpc"
        [debug]
          address = ""
        [metrics]
          address = ""

        [plugins."io.containerd.internal.v1.opt"]
          path = "%1$s/opt"

        [plugins."io.containerd.cri.v1.runtime"]
          restrict_oom_score_adj = true
          netns_mounts_under_state_dir = true
          [plugins."io.containerd.cri.v1.runtime".containerd]
            default_runtime_name = "runc"
            [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
              runtime_type = "io.containerd.runc.v2"
              disable_pause_image_pull = true
              [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
                BinaryName = "%2$s/runc"
                Root = "%1$s/runc"
                SystemdCgroup = false
          [plugins."io.containerd.cri.v1.runtime".cni]
            bin_dirs = ["%2$s/cni"]
            conf_dir = "%3$s"

        [plugins."io.containerd.cri.v1.images"]
          snapshotter = "overlayfs"
          [plugins."io.containerd.cri.v1.images".pinned_images]
            sandbox = "%4$s"

        [plugins."io.containerd.grpc.v1.cri"]
          disable_tcp_service = true
          stream_server_address = "127.0.0.1"
          stream_server_port = "0"
        """
                .formatted(w, binDir, cniConfDir, PAUSE_IMAGE);
    }

    /**
     * {@code ctr -n k8s.io images import} of an OCI or Docker archive (Jib's buildTar, the pause
     * image), then every short name it brought ({@code phoenix/trainer:0.1.0}, as Jib writes it)
     * also tagged with its normalized name ({@code docker.io/phoenix/trainer:0.1.0}): that is the
     * name the CRI looks up for a pod's {@code image: phoenix/trainer:0.1.0}. Returns the
     * normalized names of the images that were not in the store before.
     */
    List<String> importImage(Path archive) throws IOException {
        List<String> listedBefore = images();
        Commands.Result r =
                ctr(
                        List.of(
                                "-n",
                                "k8s.io",
                                "images",
                                "import",
                                "--snapshotter",
                                "overlayfs",
                                archive.toString()));
        if (!r.ok()) {
            throw new IOException(
                    "ctr images import " + archive + " failed: " + r.output().strip());
        }
        // Which names the import brought is read from the store, not from ctr's progress output:
        // that output is not stable (an import whose "saved" line was missing left the short name
        // untagged, and the CRI then tried to pull docker.io/phoenix/operator:0.1.0; CI
        // 2026-12-03).
        java.util.Set<String> before = new java.util.HashSet<>(listedBefore);
        List<String> all = images();
        java.util.Set<String> present = new java.util.HashSet<>(all);
        List<String> names = new java.util.ArrayList<>();
        for (String name : all) {
            if (name.startsWith("sha256:")) {
                continue;
            }
            String normal = normalize(name);
            if (!normal.equals(name) && !present.contains(normal)) {
                Commands.Result tag =
                        ctr(List.of("-n", "k8s.io", "images", "tag", "--force", name, normal));
                if (!tag.ok()) {
                    throw new IOException(
                            "ctr images tag " + name + " " + normal + ": " + tag.output().strip());
                }
                present.add(normal);
            }
            if (!before.contains(name) && !names.contains(normal)) {
                names.add(normal);
            }
        }
        return names;
    }

    /** Docker's reference normalization: no registry means docker.io, no path means library/. */
    static String normalize(String ref) {
        int slash = ref.indexOf('/');
        String first = slash < 0 ? "" : ref.substring(0, slash);
        boolean hasRegistry =
                slash > 0
                        && (first.contains(".")
                                || first.contains(":")
                                || first.equals("localhost"));
        if (hasRegistry) {
            return ref;
        }
        return slash < 0 ? "docker.io/library/" + ref : "docker.io/" + ref;
    }

    /** Image references in the CRI namespace. */
    List<String> images() throws IOException {
        Commands.Result r = ctr(List.of("-n", "k8s.io", "images", "ls", "-q"));
        // The output carries containerd's warnings too (time="…" level=warning …): a reference has
        // no blank in it.
        return r.ok()
                ? r.output()
                        .lines()
                        .map(String::strip)
                        .filter(l -> !l.isEmpty() && !l.contains(" "))
                        .toList()
                : List.of();
    }

    Commands.Result ctr(List<String> args) throws IOException {
        return Commands.run(
                300,
                Commands.list(
                        binDir.resolve("ctr").toString(),
                        Commands.list("--address", Commands.list(socket().toString(), args))));
    }

    /**
     * crictl on this containerd, with a config file of its own (else it warns about
     * /etc/crictl.yaml on stderr).
     */
    Commands.Result crictl(List<String> args) throws IOException {
        Path config = dir.resolve("crictl.yaml");
        if (!Files.exists(config)) {
            Files.writeString(
                    config,
                    "runtime-endpoint: "
                            + endpoint()
                            + "\nimage-endpoint: "
                            + endpoint()
                            + "\ntimeout: 60\n",
                    StandardCharsets.UTF_8);
        }
        return Commands.run(
                120,
                Commands.list(
                        binDir.resolve("crictl").toString(),
                        Commands.list("--config", Commands.list(config.toString(), args))));
    }

    /**
     * Stops and removes every pod sandbox through the CRI: containerd runs the CNI DEL (veth, IPAM
     * address, portmap rules), unmounts the network namespace and the containers' root filesystems,
     * and the shims exit.
     */
    void removeAllPods() throws IOException {
        Commands.Result r = crictl(List.of("rmp", "--all", "--force"));
        if (!r.ok() && !r.output().contains("no pod sandboxes")) {
            LOG.warn("crictl rmp --all --force: {}", r.output().strip());
        }
    }

    /**
     * SIGTERM (SIGKILL after 10 s). Running containers keep running in their shims: remove pods
     * first.
     */
    @Override
    public void close() {
        if (process != null) {
            process.stop(10_000);
        }
    }

    /** SIGKILL, as in a power loss. */
    void kill() throws InterruptedException {
        if (process != null) {
            process.kill();
        }
    }

    private static void sleep(long ms) throws IOException {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
    }
}
