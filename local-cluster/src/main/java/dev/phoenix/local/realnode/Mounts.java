package dev.phoenix.local.realnode;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * Mount points under a directory, from {@code /proc/self/mountinfo}: what the kubelet (its root dir
 * bind mount, tmpfs for secret and token volumes), containerd (overlay root filesystems, sandbox
 * shm) and the network namespaces under containerd's state dir leave mounted when they are killed.
 */
final class Mounts {
    private Mounts() {}

    /** Mount points at or below {@code dir}, deepest first. */
    static List<Path> under(Path dir) throws IOException {
        String prefix = dir.toAbsolutePath().normalize().toString();
        List<Path> out = new ArrayList<>();
        for (String line :
                Files.readAllLines(Path.of("/proc/self/mountinfo"), StandardCharsets.UTF_8)) {
            String[] f = line.split(" ");
            if (f.length < 5) {
                continue;
            }
            String mountPoint = unescape(f[4]);
            if (mountPoint.equals(prefix) || mountPoint.startsWith(prefix + "/")) {
                out.add(Path.of(mountPoint));
            }
        }
        out.sort(Comparator.comparingInt((Path p) -> p.getNameCount()).reversed());
        return out;
    }

    /**
     * Unmounts everything at or below {@code dir} (lazily where a plain unmount is refused);
     * returns what is left.
     */
    static List<Path> unmountAll(Path dir) throws IOException {
        for (int round = 0; round < 3; round++) {
            List<Path> mounts = under(dir);
            if (mounts.isEmpty()) {
                return mounts;
            }
            for (Path m : mounts) {
                if (!Commands.run(30, List.of("umount", m.toString())).ok()) {
                    Commands.run(30, List.of("umount", "-l", m.toString()));
                }
            }
        }
        return under(dir);
    }

    /** mountinfo escapes space, tab, newline and backslash as octal. */
    private static String unescape(String s) {
        if (s.indexOf('\\') < 0) {
            return s;
        }
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\\' && i + 3 < s.length()) {
                b.append((char) Integer.parseInt(s.substring(i + 1, i + 4), 8));
                i += 3;
            } else {
                b.append(c);
            }
        }
        return b.toString();
    }
}
