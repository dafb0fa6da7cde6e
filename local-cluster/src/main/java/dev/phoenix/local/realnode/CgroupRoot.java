package dev.phoenix.local.realnode;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;

/**
 * The cgroup under which one node's kubelet puts its pods ({@code cgroupRoot}, cgroupfs driver), in
 * every mounted hierarchy: these VMs mount cgroup v1 controllers plus a cgroup2 {@code unified}
 * hierarchy, which the node uses as it finds them (it never remounts anything). The root sits below
 * this JVM's own memory cgroup, so pods count against the same memory limit as the process that
 * started them.
 */
final class CgroupRoot {
    private final String path; // e.g. /process_api/c2206…/phoenix-node-ab12cd34

    CgroupRoot(String path) {
        this.path = path;
    }

    /** {@code <this JVM's memory cgroup>/phoenix-<id>}. */
    static CgroupRoot forNode(String id) throws IOException {
        String base = "/";
        String unified = null;
        for (String line :
                Files.readAllLines(Path.of("/proc/self/cgroup"), StandardCharsets.UTF_8)) {
            String[] f = line.split(":", 3);
            if (f.length < 3) {
                continue;
            }
            if (List.of(f[1].split(",")).contains("memory")) {
                base = f[2];
            } else if (f[0].equals("0") && f[1].isEmpty()) {
                unified = f[2];
            }
        }
        if (base.equals("/") && unified != null && !hasV1Memory()) {
            base = unified; // a pure cgroup v2 machine
        }
        return new CgroupRoot((base.endsWith("/") ? base : base + "/") + "phoenix-" + id);
    }

    private static boolean hasV1Memory() throws IOException {
        return hierarchies().stream()
                .anyMatch(
                        h ->
                                h.getFileName() != null
                                        && h.getFileName().toString().contains("memory"));
    }

    String path() {
        return path;
    }

    /** Mount points of every cgroup (v1) and cgroup2 hierarchy. */
    static List<Path> hierarchies() throws IOException {
        List<Path> out = new ArrayList<>();
        for (String line :
                Files.readAllLines(Path.of("/proc/self/mountinfo"), StandardCharsets.UTF_8)) {
            int dash = line.indexOf(" - ");
            if (dash < 0) {
                continue;
            }
            String fsType = line.substring(dash + 3).split(" ")[0];
            if (fsType.equals("cgroup") || fsType.equals("cgroup2")) {
                out.add(Path.of(line.split(" ")[4]));
            }
        }
        return out;
    }

    /**
     * Creates the root in every hierarchy; directories on the way that did not exist are noted in
     * the registry (removed once empty). In the cpuset hierarchy a new cgroup starts with no CPUs
     * and no memory nodes, so each new directory gets its parent's.
     */
    void create(HostRegistry registry) throws IOException {
        for (Path h : hierarchies()) {
            List<Path> missing = new ArrayList<>();
            for (Path d = h.resolve(path.substring(1));
                    !Files.exists(d) && d.startsWith(h);
                    d = d.getParent()) {
                missing.add(0, d);
            }
            registry.noteIfAbsent(
                    missing.stream().filter(d -> !d.equals(h.resolve(path.substring(1)))).toList());
            for (Path d : missing) {
                Files.createDirectories(d);
                if (Files.exists(d.resolve("cpuset.cpus"))) {
                    for (String f : List.of("cpuset.cpus", "cpuset.mems")) {
                        String parent = Commands.readKernelFile(d.getParent().resolve(f));
                        if (Commands.readKernelFile(d.resolve(f)).isEmpty() && !parent.isEmpty()) {
                            Files.writeString(d.resolve(f), parent);
                        }
                    }
                }
            }
        }
    }

    /** Every process in the root or below, in any hierarchy. */
    Set<Long> processes() throws IOException {
        Set<Long> pids = new LinkedHashSet<>();
        for (Path h : hierarchies()) {
            Path root = h.resolve(path.substring(1));
            if (!Files.isDirectory(root)) {
                continue;
            }
            try (Stream<Path> s = Files.walk(root)) {
                for (Path procs :
                        s.filter(p -> p.getFileName().toString().equals("cgroup.procs")).toList()) {
                    try {
                        for (String l : Files.readAllLines(procs)) {
                            if (!l.isBlank()) {
                                pids.add(Long.parseLong(l.strip()));
                            }
                        }
                    } catch (NoSuchFileException e) {
                        // removed meanwhile
                    }
                }
            } catch (java.io.UncheckedIOException e) {
                // a cgroup vanished during the walk; the next call sees the rest
            }
        }
        return pids;
    }

    /**
     * SIGKILLs everything in the root and removes it in every hierarchy (deepest first); true when
     * all gone.
     */
    boolean killAndRemove() throws IOException, InterruptedException {
        for (int round = 0; round < 50; round++) {
            Set<Long> pids = processes();
            pids.forEach(pid -> ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly));
            if (pids.isEmpty() && removeDirs()) {
                return true;
            }
            Thread.sleep(100);
        }
        return false;
    }

    private boolean removeDirs() throws IOException {
        boolean all = true;
        for (Path h : hierarchies()) {
            Path root = h.resolve(path.substring(1));
            if (!Files.isDirectory(root)) {
                continue;
            }
            List<Path> dirs;
            try (Stream<Path> s = Files.walk(root)) {
                dirs =
                        s.filter(Files::isDirectory)
                                .sorted(Comparator.comparingInt(Path::getNameCount).reversed())
                                .toList();
            }
            for (Path d : dirs) {
                // rmdir(2) removes a cgroup although it lists control files (Files.delete is rmdir
                // for a directory)
                try {
                    Files.deleteIfExists(d);
                } catch (IOException e) {
                    all = false;
                }
            }
        }
        return all;
    }

    @Override
    public String toString() {
        return path;
    }
}
