package dev.phoenix.local.realnode;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What a node or network could have left on the machine, looked up from the outside (mountinfo,
 * /sys, /proc, iptables-save, the registry), for tests that prove a stopped node left nothing
 * behind. Only what can be attributed to the given work dirs, bridge, cgroup root and network name
 * is reported, so other nodes running on the machine at the same time do not disturb the check.
 */
public final class Leftovers {
    private Leftovers() {}

    /** Machine-wide state that only changes when some node changes it: compare before and after. */
    public static Map<String, String> machineState() throws IOException {
        Map<String, String> m = new LinkedHashMap<>();
        for (String n : KernelTunables.NAMES) {
            Path f = Path.of("/proc/sys").resolve(n);
            m.put("sysctl " + n, Files.isReadable(f) ? Commands.readKernelFile(f) : "-");
        }
        m.put(
                "sysctl net/ipv4/ip_forward",
                Commands.readKernelFile(Path.of("/proc/sys/net/ipv4/ip_forward")));
        for (Path d : RealNode.HOST_DIRS) {
            m.put("exists " + d, Boolean.toString(Files.exists(d)));
        }
        m.put(
                "exists " + HostRegistry.DEFAULT_DIR,
                Boolean.toString(Files.exists(HostRegistry.DEFAULT_DIR)));
        m.put("iptables", iptables("iptables-save"));
        return m;
    }

    private static String iptables(String tool) throws IOException {
        Commands.Result r = Commands.run(List.of(tool));
        if (!r.ok()) {
            return "(" + tool + " failed: " + r.output().strip() + ")";
        }
        // Counters and the generation comments change by themselves; rules and chains do not.
        return r.output()
                .lines()
                .filter(l -> !l.startsWith("#"))
                .map(l -> l.replaceAll("\\[\\d+:\\d+\\]", ""))
                .reduce("", (a, b) -> a + b + "\n");
    }

    /**
     * Everything found that belongs to these dirs, bridge, cgroup root or CNI network; empty when
     * clean.
     */
    public static List<String> of(
            List<Path> workDirs, String bridge, String cgroupRoot, String networkName)
            throws IOException {
        List<String> found = new ArrayList<>();
        for (Path w : workDirs) {
            for (Path m : Mounts.under(w)) {
                found.add("mount " + m);
            }
            if (Files.exists(w)) {
                found.add("work dir " + w);
            }
            String needle = w.toAbsolutePath().normalize() + "/";
            try (DirectoryStream<Path> procs =
                    Files.newDirectoryStream(
                            Path.of("/proc"), p -> p.getFileName().toString().matches("\\d+"))) {
                for (Path p : procs) {
                    try {
                        String cmd =
                                new String(
                                                Files.readAllBytes(p.resolve("cmdline")),
                                                StandardCharsets.UTF_8)
                                        .replace('\0', ' ');
                        if (cmd.contains(needle)) {
                            found.add("process " + p.getFileName() + ": " + cmd.strip());
                        }
                    } catch (IOException e) {
                        // gone
                    }
                }
            }
            if (Files.isDirectory(RealNodeCleanup.CONTAINER_LOG_LINKS)) {
                try (DirectoryStream<Path> s =
                        Files.newDirectoryStream(RealNodeCleanup.CONTAINER_LOG_LINKS)) {
                    for (Path f : s) {
                        if (Files.isSymbolicLink(f) && Files.readSymbolicLink(f).startsWith(w)) {
                            found.add("log link " + f);
                        }
                    }
                }
            }
        }
        if (bridge != null && Files.exists(Path.of("/sys/class/net", bridge))) {
            found.add("interface " + bridge);
        }
        if (networkName != null && Files.isDirectory(RealNodeCleanup.CNI_RESULTS)) {
            try (DirectoryStream<Path> s =
                    Files.newDirectoryStream(RealNodeCleanup.CNI_RESULTS, networkName + "-*")) {
                s.forEach(f -> found.add("CNI result " + f));
            }
        }
        if (cgroupRoot != null) {
            for (Path h : CgroupRoot.hierarchies()) {
                Path d = h.resolve(cgroupRoot.substring(1));
                if (Files.exists(d)) {
                    found.add("cgroup " + d);
                }
            }
        }
        if (Files.isDirectory(HostRegistry.DEFAULT_DIR.resolve("nodes"))) {
            for (NodeRecord r : new HostRegistry(HostRegistry.DEFAULT_DIR).nodes()) {
                if (workDirs.stream().anyMatch(w -> w.toString().equals(r.workDir()))) {
                    found.add("registry record " + r.id());
                }
            }
        }
        return found;
    }

    /**
     * True when the registry records a live node or network other than those in {@code workDirs}.
     */
    public static boolean otherNodesRunning(List<Path> workDirs) throws IOException {
        if (!Files.isDirectory(HostRegistry.DEFAULT_DIR.resolve("nodes"))) {
            return false;
        }
        return new HostRegistry(HostRegistry.DEFAULT_DIR)
                .nodes().stream()
                        .anyMatch(
                                r ->
                                        r.ownerAlive()
                                                && workDirs.stream()
                                                        .noneMatch(
                                                                w ->
                                                                        w.toString()
                                                                                .equals(
                                                                                        r
                                                                                                .workDir())));
    }
}
