package dev.phoenix.local.realnode;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Undoes what a node or a pod network changed outside its work dir, from its {@link NodeRecord}:
 * the same steps after a clean stop and after a crash (a record whose owner is gone), so the crash
 * path is the one every test exercises. Callers hold the {@link HostRegistry} lock.
 */
final class RealNodeCleanup {
    private static final Logger LOG = LoggerFactory.getLogger(RealNodeCleanup.class);
    static final Path CONTAINER_LOG_LINKS = Path.of("/var/log/containers");
    static final Path CNI_RESULTS = Path.of("/var/lib/cni/results");
    static final String WORK_DIR_MARKER = ".phoenix-realnode";

    /** The kubelet's filter chain, which kube-proxy creates too and never deletes. */
    static final String KUBE_FIREWALL = "KUBE-FIREWALL";

    static final List<String> IPTABLES = List.of("iptables", "ip6tables");

    /**
     * A file of this name plus the tool in a services work dir: that table had no KUBE-FIREWALL
     * before.
     */
    static final String CREATED_FIREWALL_PREFIX = "created-kube-firewall-";

    /**
     * Socket directories at fixed paths: the kubelet's device-plugin socket
     * (pluginapi.DevicePluginPath, not under its root dir in 1.37, shared by every kubelet of the
     * machine) and the shims' sockets (containerd puts them under /run/containerd/s whatever its
     * state dir is). A shim that was killed leaves its socket behind.
     */
    static final List<Path> SHARED_SOCKET_DIRS =
            List.of(Path.of("/var/lib/kubelet/device-plugins"), Path.of("/run/containerd/s"));

    private RealNodeCleanup() {}

    /** Cleans up after every run that ended without doing so itself. */
    static void cleanOrphans(HostRegistry registry) throws IOException {
        for (NodeRecord r : registry.orphans()) {
            if (NodeRecord.SERVICES.equals(r.kind())) {
                LOG.warn(
                        "cleaning up after an earlier run that did not stop cleanly: {} {} (work dir {})",
                        r.kind(),
                        r.id(),
                        r.workDir());
                removeServices(registry, r);
            }
        }
        for (NodeRecord r : registry.orphans()) {
            LOG.warn(
                    "cleaning up after an earlier run that did not stop cleanly: {} {} (work dir {})",
                    r.kind(),
                    r.id(),
                    r.workDir());
            if (NodeRecord.NODE.equals(r.kind())) {
                removeNode(registry, r, null);
                if (Files.exists(Path.of(r.workDir()).resolve(WORK_DIR_MARKER))) {
                    deleteWorkDir(Path.of(r.workDir()));
                }
            }
        }
        // networks after the nodes that used them
        for (NodeRecord r : registry.orphans()) {
            if (NodeRecord.NETWORK.equals(r.kind())) {
                removeNetwork(registry, r);
                deleteWorkDir(Path.of(r.workDir()));
            }
        }
    }

    /**
     * Removes a node's pods, processes, mounts, cgroups and log links. {@code runtime} is its
     * containerd when still running; otherwise (a crash) one is started on the old state just to
     * tear the pods down through the CRI, which is what releases their network namespaces and CNI
     * attachments properly.
     */
    static void removeNode(HostRegistry registry, NodeRecord r, ContainerRuntime runtime)
            throws IOException {
        Path work = Path.of(r.workDir());
        killMentioning(work, "kubelet");
        ContainerRuntime rt = runtime;
        if ((rt == null || !rt.isRunning())
                && r.binDir() != null
                && Files.exists(work.resolve("containerd/config.toml"))) {
            // An orphaned containerd of a crashed run may still run: it holds the socket, use it;
            // else start one.
            rt = new ContainerRuntime(work.resolve("containerd"), Path.of(r.binDir()), null);
            if (!rt.ctr(List.of("version")).ok()) {
                killMentioning(work, "containerd");
                try {
                    rt.startWithExistingConfig(Duration.ofSeconds(30));
                } catch (IOException | RuntimeException e) {
                    LOG.warn(
                            "cannot start containerd to tear down the pods of {}: {}",
                            work,
                            e.toString());
                    rt = null;
                }
            }
        }
        if (rt != null) {
            try {
                rt.removeAllPods();
            } catch (IOException e) {
                LOG.warn("removing the pods of {}: {}", work, e.toString());
            }
            rt.close();
        }
        killMentioning(work, null); // orphaned containerd, shims
        try {
            if (r.cgroupRoot() != null && !new CgroupRoot(r.cgroupRoot()).killAndRemove()) {
                LOG.warn("cgroup {} could not be removed completely", r.cgroupRoot());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
        List<Path> left = Mounts.unmountAll(work);
        if (!left.isEmpty()) {
            LOG.warn("still mounted under {}: {}", work, left);
        }
        removeLogLinks(work);
        registry.deleteNode(r.id());
        afterRemoval(registry, r.id());
    }

    /**
     * Machine-wide leftovers, once no node runs any more: the kernel tunables go back to their
     * saved values; the files in {@link #SHARED_SOCKET_DIRS} (fixed paths every kubelet or shim of
     * the machine uses) are removed when a node created the directory, since then nobody else can
     * own them; then every noted host directory that is empty again.
     */
    static void afterRemoval(HostRegistry registry, String id) throws IOException {
        if (!registry.otherLiveNodes(id)) {
            KernelTunables.restore(registry);
            for (Path d : SHARED_SOCKET_DIRS) {
                if (Files.isDirectory(d)
                        && (registry.created(d) || registry.created(d.getParent()))) {
                    try (DirectoryStream<Path> s = Files.newDirectoryStream(d)) {
                        for (Path f : s) {
                            if (!Files.isDirectory(f, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
                                Files.deleteIfExists(f);
                            }
                        }
                    }
                }
            }
        }
        registry.removeEmptyCreatedDirs();
    }

    /**
     * Stops a cluster's kube-proxy and CoreDNS and removes every rule kube-proxy made ({@code
     * kube-proxy --cleanup}: its iptables chains and jumps), then the record. Only one cluster per
     * machine runs a service proxy ({@link ClusterServices}), so the cleanup cannot hit another
     * cluster's rules.
     */
    static void removeServices(HostRegistry registry, NodeRecord r) throws IOException {
        Path work = Path.of(r.workDir());
        killMentioning(work, null);
        Path proxy = Path.of(r.binDir(), "kube-proxy");
        if (Files.isExecutable(proxy)) {
            Commands.Result clean =
                    Commands.run(120, List.of(proxy.toString(), "--cleanup", "--v=0"));
            if (!clean.ok()) {
                LOG.warn("kube-proxy --cleanup: {}", clean.output().strip());
            }
        }
        for (String tool : IPTABLES) {
            if (Files.exists(work.resolve(CREATED_FIREWALL_PREFIX + tool))) {
                for (String chain : List.of("INPUT", "OUTPUT")) {
                    while (Commands.run(30, List.of(tool, "-w", "-D", chain, "-j", KUBE_FIREWALL))
                            .ok()) {
                        // every jump (kube-proxy adds one per start)
                    }
                }
                Commands.run(30, List.of(tool, "-w", "-F", KUBE_FIREWALL));
                Commands.run(30, List.of(tool, "-w", "-X", KUBE_FIREWALL));
            }
        }
        registry.deleteNode(r.id());
        if (Files.exists(work.resolve(WORK_DIR_MARKER))) {
            deleteWorkDir(work);
        }
    }

    /** Deletes the bridge and containerd's CNI cache files of the network, then its record. */
    static void removeNetwork(HostRegistry registry, NodeRecord r) throws IOException {
        if (r.bridge() != null && Files.exists(Path.of("/sys/class/net", r.bridge()))) {
            Commands.Result del = Commands.run(List.of("ip", "link", "del", r.bridge()));
            if (!del.ok()) {
                LOG.warn("ip link del {}: {}", r.bridge(), del.output().strip());
            }
        }
        String name = "phoenix-" + r.id().replaceFirst("^net-", "");
        if (Files.isDirectory(CNI_RESULTS)) {
            try (DirectoryStream<Path> s = Files.newDirectoryStream(CNI_RESULTS, name + "-*")) {
                for (Path f : s) {
                    Files.deleteIfExists(f);
                }
            }
        }
        registry.deleteNode(r.id());
        afterRemoval(registry, r.id());
    }

    /**
     * Deletes a node's or network's work dir, but never while something is still mounted below it:
     * a container's root filesystem or a hostPath bind mount there would let the delete reach host
     * files.
     */
    static boolean deleteWorkDir(Path work) throws IOException {
        List<Path> mounted = Mounts.unmountAll(work);
        if (!mounted.isEmpty()) {
            LOG.warn("not deleting {}: still mounted below it: {}", work, mounted);
            return false;
        }
        HostRegistry.deleteRecursively(work);
        return true;
    }

    /**
     * Links in /var/log/containers (the kubelet's, not movable) that point into this node's work
     * dir.
     */
    static void removeLogLinks(Path work) throws IOException {
        if (!Files.isDirectory(CONTAINER_LOG_LINKS)) {
            return;
        }
        try (DirectoryStream<Path> s = Files.newDirectoryStream(CONTAINER_LOG_LINKS)) {
            for (Path f : s) {
                if (Files.isSymbolicLink(f) && Files.readSymbolicLink(f).startsWith(work)) {
                    Files.deleteIfExists(f);
                }
            }
        }
    }

    /**
     * SIGKILLs every process whose command line names the work dir (the kubelet's --root-dir,
     * containerd's --config, each shim's -address): exact, since every node has its own dir. {@code
     * onlyNamed}: just those whose executable name contains it.
     */
    static void killMentioning(Path work, String onlyNamed) throws IOException {
        String needle = work.toAbsolutePath().normalize() + "/";
        long self = ProcessHandle.current().pid();
        List<ProcessHandle> victims = new ArrayList<>();
        try (DirectoryStream<Path> procs =
                Files.newDirectoryStream(
                        Path.of("/proc"), p -> p.getFileName().toString().matches("\\d+"))) {
            for (Path p : procs) {
                long pid = Long.parseLong(p.getFileName().toString());
                if (pid == self) {
                    continue;
                }
                String cmdline;
                try {
                    cmdline =
                            new String(
                                            Files.readAllBytes(p.resolve("cmdline")),
                                            StandardCharsets.UTF_8)
                                    .replace('\0', ' ');
                } catch (IOException e) {
                    continue; // gone
                }
                if (!cmdline.contains(needle)) {
                    continue;
                }
                String exe = cmdline.split(" ", 2)[0];
                if (onlyNamed == null || exe.contains(onlyNamed)) {
                    ProcessHandle.of(pid).ifPresent(victims::add);
                }
            }
        }
        for (ProcessHandle h : victims) {
            h.destroyForcibly();
        }
        for (ProcessHandle h : victims) {
            try {
                h.onExit().get(10, java.util.concurrent.TimeUnit.SECONDS);
            } catch (Exception e) {
                // not our child: onExit polls; a zombie of another parent is dead enough
            }
        }
    }
}
