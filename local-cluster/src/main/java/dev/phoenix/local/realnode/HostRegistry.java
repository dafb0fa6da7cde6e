package dev.phoenix.local.realnode;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

/**
 * What every real node on this machine changed outside its own work dir, kept where a later run
 * finds it after a crash: {@code /run/phoenix} (a tmpfs, so it goes away with a reboot, as do the
 * mounts, network namespaces, cgroups and bridges it describes). All access is under one file lock,
 * so nodes in several JVMs may start and stop at the same time.
 *
 * <ul>
 *   <li>{@code nodes/<id>.json}: one {@link NodeRecord} per node, written before the node changes
 *       anything, deleted once it has cleaned up; a record whose owner process is gone is a crashed
 *       run to clean up.
 *   <li>{@code created-dirs}: host directories that did not exist before a node made (or made its
 *       kubelet or containerd make) them; removed again once empty, which is when the last node
 *       using them is gone.
 *   <li>{@code sysctl.orig}: the kernel tunables the kubelet sets ({@link KernelTunables}), as they
 *       were before the first node started; restored when no node is left.
 * </ul>
 */
final class HostRegistry {
    static final Path DEFAULT_DIR =
            Path.of(System.getenv().getOrDefault("PHOENIX_NODE_REGISTRY", "/run/phoenix"));
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path dir;

    HostRegistry(Path dir) {
        this.dir = dir;
    }

    static HostRegistry machine() {
        return new HostRegistry(DEFAULT_DIR);
    }

    Path dir() {
        return dir;
    }

    /**
     * Runs {@code body} holding the machine-wide lock (also against other JVMs). Afterwards the
     * registry is removed when it records nothing any more. A lock won on a lock file that the last
     * node out deleted meanwhile protects nothing: that node writes "dead" into it first, and the
     * waiter then starts over.
     */
    <T> T locked(IoSupplier<T> body) throws IOException {
        Path lock = dir.resolve(".lock");
        while (true) {
            Files.createDirectories(dir.resolve("nodes"));
            try (FileChannel ch =
                            FileChannel.open(
                                    lock,
                                    StandardOpenOption.CREATE,
                                    StandardOpenOption.READ,
                                    StandardOpenOption.WRITE);
                    FileLock ignored = ch.lock()) {
                java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(4);
                ch.read(b, 0);
                if (new String(b.array(), 0, b.position(), StandardCharsets.US_ASCII)
                        .equals("dead")) {
                    continue;
                }
                Files.createDirectories(dir.resolve("nodes"));
                T result = body.get();
                if (unused()) {
                    ch.write(
                            java.nio.ByteBuffer.wrap("dead".getBytes(StandardCharsets.US_ASCII)),
                            0);
                    ch.force(true);
                    Files.deleteIfExists(dir.resolve("created-dirs"));
                    Files.deleteIfExists(dir.resolve("nodes"));
                    Files.deleteIfExists(lock);
                    try {
                        Files.deleteIfExists(dir);
                    } catch (DirectoryNotEmptyException e) {
                        // someone left something else here: keep it
                    }
                }
                return result;
            }
        }
    }

    private boolean unused() throws IOException {
        return nodes().isEmpty()
                && createdDirs().isEmpty()
                && !Files.exists(dir.resolve("sysctl.orig"));
    }

    interface IoSupplier<T> {
        T get() throws IOException;
    }

    // ---------------------------------------------------------------------------------------------
    // node records

    void writeNode(NodeRecord r) throws IOException {
        Path f = dir.resolve("nodes").resolve(r.id() + ".json");
        Path tmp = f.resolveSibling(f.getFileName() + ".tmp");
        Files.writeString(tmp, JSON.writeValueAsString(r), StandardCharsets.UTF_8);
        Files.move(
                tmp,
                f,
                java.nio.file.StandardCopyOption.REPLACE_EXISTING,
                java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    }

    void deleteNode(String id) throws IOException {
        Files.deleteIfExists(dir.resolve("nodes").resolve(id + ".json"));
    }

    List<NodeRecord> nodes() throws IOException {
        List<NodeRecord> out = new ArrayList<>();
        try (Stream<Path> s = Files.list(dir.resolve("nodes"))) {
            for (Path f : s.filter(p -> p.toString().endsWith(".json")).sorted().toList()) {
                try {
                    out.add(JSON.readValue(f.toFile(), NodeRecord.class));
                } catch (IOException e) {
                    // A record cut short by a crash mid-write: nothing was changed after it, drop
                    // it.
                    Files.deleteIfExists(f);
                }
            }
        }
        return out;
    }

    /** Records whose owner process is gone: runs that ended without cleaning up. */
    List<NodeRecord> orphans() throws IOException {
        return nodes().stream().filter(r -> !r.ownerAlive()).toList();
    }

    /** True when a node (not a network) other than {@code id} is recorded and its owner lives. */
    boolean otherLiveNodes(String id) throws IOException {
        return nodes().stream()
                .anyMatch(
                        r ->
                                NodeRecord.NODE.equals(r.kind())
                                        && !r.id().equals(id)
                                        && r.ownerAlive());
    }

    /** True when {@code dir} is one of the host directories a node created. */
    boolean created(Path d) throws IOException {
        return createdDirs().contains(d.toAbsolutePath().normalize().toString());
    }

    // ---------------------------------------------------------------------------------------------
    // host directories created on the way

    /**
     * Notes each directory that does not exist yet, so it can be removed once it is empty again.
     */
    void noteIfAbsent(List<Path> dirs) throws IOException {
        Set<String> created = new LinkedHashSet<>(createdDirs());
        for (Path d : dirs) {
            if (!Files.exists(d)) {
                created.add(d.toAbsolutePath().normalize().toString());
            }
        }
        Files.write(dir.resolve("created-dirs"), created, StandardCharsets.UTF_8);
    }

    /** Removes every noted directory that is empty now (deepest first); keeps the others noted. */
    void removeEmptyCreatedDirs() throws IOException {
        List<String> all = new ArrayList<>(createdDirs());
        all.sort(Comparator.comparingInt(String::length).reversed());
        List<String> kept = new ArrayList<>();
        for (String d : all) {
            try {
                Files.deleteIfExists(Path.of(d));
            } catch (DirectoryNotEmptyException e) {
                kept.add(d);
            } catch (IOException e) {
                kept.add(d);
            }
        }
        Files.write(dir.resolve("created-dirs"), kept, StandardCharsets.UTF_8);
    }

    private List<String> createdDirs() throws IOException {
        try {
            return Files.readAllLines(dir.resolve("created-dirs"), StandardCharsets.UTF_8).stream()
                    .filter(l -> !l.isBlank())
                    .toList();
        } catch (NoSuchFileException e) {
            return List.of();
        }
    }

    // ---------------------------------------------------------------------------------------------
    // sysctls

    Map<String, String> savedSysctls() throws IOException {
        Path f = dir.resolve("sysctl.orig");
        Map<String, String> out = new LinkedHashMap<>();
        if (!Files.exists(f)) {
            return out;
        }
        for (String line : Files.readAllLines(f, StandardCharsets.UTF_8)) {
            int eq = line.indexOf('=');
            if (eq > 0) {
                out.put(line.substring(0, eq), line.substring(eq + 1));
            }
        }
        return out;
    }

    void saveSysctls(Map<String, String> values) throws IOException {
        List<String> lines = new ArrayList<>();
        values.forEach((k, v) -> lines.add(k + "=" + v));
        Files.write(dir.resolve("sysctl.orig"), lines, StandardCharsets.UTF_8);
    }

    void dropSavedSysctls() throws IOException {
        Files.deleteIfExists(dir.resolve("sysctl.orig"));
    }

    static void deleteRecursively(Path p) {
        if (!Files.exists(p, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        try (Stream<Path> s = Files.walk(p)) {
            for (Path x : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(x);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot delete " + p, e);
        }
    }
}
