package dev.phoenix.local.node;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Starts a container process. With bubblewrap ({@code bwrap}) the process gets a private mount namespace:
 * the host's top-level directories bound at the same place on a tmpfs root (so mount points such as
 * {@code /data} never appear on the host), a minimal {@code /dev} (plus {@code /dev/nvidia*}), each volume
 * bound at its {@code mountPath}, the termination-log file at {@code terminationMessagePath}, the pod's
 * hosts file at {@code /etc/hosts}, and its own UTS namespace with the pod's hostname. Without bwrap, paths below a mountPath in args, env values and the
 * working directory are rewritten to the local directory instead (and /etc/hosts is the host's).
 */
final class Sandbox {

    record Mount(Path source, String target, boolean readOnly) {
    }

    record Spec(List<String> command, Map<String, String> env, List<Mount> mounts, Path terminationFile,
                String terminationPath, Path hostsFile, String workingDir, Path logFile, String hostname) {
    }

    private static volatile Boolean bwrapWorks;

    static boolean bwrapAvailable() {
        Boolean b = bwrapWorks;
        if (b == null) {
            synchronized (Sandbox.class) {
                if (bwrapWorks == null) {
                    bwrapWorks = probe();
                }
                b = bwrapWorks;
            }
        }
        return b;
    }

    private static boolean probe() {
        if ("false".equalsIgnoreCase(System.getProperty("phoenix.localnode.bwrap", System.getenv("PHOENIX_LOCALNODE_BWRAP")))) {
            return false;
        }
        try {
            Process p = new ProcessBuilder("bwrap", "--dev-bind", "/", "/", "--dev", "/dev", "--", "true")
                    .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            return p.waitFor(20, TimeUnit.SECONDS) && p.exitValue() == 0;
        } catch (IOException | InterruptedException e) {
            return false;
        }
    }

    static List<String> commandLine(Spec spec, boolean bwrap) throws IOException {
        if (!bwrap) {
            List<String> out = new ArrayList<>();
            for (String s : spec.command()) {
                out.add(rewrite(s, spec));
            }
            return out;
        }
        List<String> a = new ArrayList<>();
        a.add("bwrap");
        try (Stream<Path> top = Files.list(Path.of("/"))) {
            for (Path p : (Iterable<Path>) top.sorted()::iterator) {
                String name = "/" + p.getFileName();
                if (Files.isSymbolicLink(p)) {
                    a.addAll(List.of("--symlink", Files.readSymbolicLink(p).toString(), name));
                } else if (name.equals("/dev")) {
                    a.addAll(List.of("--dev", "/dev"));
                    try (Stream<Path> dev = Files.list(Path.of("/dev"))) {
                        for (Path d : (Iterable<Path>) dev.sorted()::iterator) {
                            String dn = d.getFileName().toString();
                            if (dn.startsWith("nvidia") || dn.equals("dri")) {
                                a.addAll(List.of("--dev-bind", d.toString(), d.toString()));
                            }
                        }
                    }
                } else if (name.equals("/proc")) {
                    a.addAll(List.of("--proc", "/proc"));
                } else if (Files.isDirectory(p)) {
                    a.addAll(List.of("--dev-bind", name, name));
                } else if (Files.isRegularFile(p)) {
                    a.addAll(List.of("--ro-bind", name, name));
                }
            }
        }
        for (Mount m : spec.mounts()) {
            a.addAll(List.of(m.readOnly() ? "--ro-bind" : "--bind", m.source().toString(), throughSymlinks(m.target())));
        }
        if (spec.terminationFile() != null) {
            a.addAll(List.of("--bind", spec.terminationFile().toString(), throughSymlinks(spec.terminationPath())));
        }
        if (spec.hostsFile() != null) {
            a.addAll(List.of("--ro-bind", spec.hostsFile().toString(), "/etc/hosts"));
        }
        if (spec.workingDir() != null && !spec.workingDir().isEmpty()) {
            a.addAll(List.of("--chdir", spec.workingDir()));
        }
        if (spec.hostname() != null && !spec.hostname().isEmpty()) {
            a.addAll(List.of("--unshare-uts", "--hostname", spec.hostname()));
        }
        a.add("--die-with-parent");
        a.add("--");
        a.addAll(spec.command());
        return a;
    }

    /**
     * bwrap cannot create a mount point below a symlinked directory (e.g. {@code /var/run -> /run}): resolve
     * the longest existing prefix of the target on the host.
     */
    static String throughSymlinks(String target) {
        Path t = Path.of(target).normalize();
        Path existing = t;
        while (existing != null && !Files.exists(existing)) {
            existing = existing.getParent();
        }
        if (existing == null) {
            return t.toString();
        }
        try {
            Path real = existing.toRealPath();
            return real.resolve(existing.relativize(t)).toString();
        } catch (IOException e) {
            return t.toString();
        }
    }

    /** Fallback path mapping: a value that is, or starts with, a mountPath + "/" points into the local dir. */
    static String rewrite(String s, Spec spec) {
        if (s == null) {
            return null;
        }
        if (spec.terminationPath() != null && s.equals(spec.terminationPath()) && spec.terminationFile() != null) {
            return spec.terminationFile().toString();
        }
        Mount best = null;
        for (Mount m : spec.mounts()) {
            String t = m.target().endsWith("/") ? m.target().substring(0, m.target().length() - 1) : m.target();
            if ((s.equals(t) || s.startsWith(t + "/")) && (best == null || t.length() > best.target().length())) {
                best = m;
            }
        }
        if (best == null) {
            return s;
        }
        String t = best.target().endsWith("/") ? best.target().substring(0, best.target().length() - 1) : best.target();
        return best.source() + s.substring(t.length());
    }

    static Process start(Spec spec, Map<String, String> baseEnv, boolean bwrap) throws IOException {
        ProcessBuilder pb = new ProcessBuilder(commandLine(spec, bwrap));
        Map<String, String> env = pb.environment();
        env.clear();
        env.putAll(baseEnv);
        spec.env().forEach((k, v) -> env.put(k, bwrap ? v : rewrite(v, spec)));
        pb.redirectErrorStream(true);
        pb.redirectOutput(ProcessBuilder.Redirect.appendTo(spec.logFile().toFile()));
        pb.redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        if (!bwrap && spec.workingDir() != null && !spec.workingDir().isEmpty()) {
            File wd = new File(rewrite(spec.workingDir(), spec));
            wd.mkdirs();
            pb.directory(wd);
        }
        return pb.start();
    }

    /**
     * Sends a signal to the container: every process below the root (the bwrap monitor is left alone for
     * TERM, so that it does not kill its child before the child's own handler ran), or the root itself
     * when it runs without bwrap.
     */
    static void signal(ProcessHandle root, String signal, boolean bwrap) {
        List<Long> pids = new ArrayList<>();
        if (!bwrap || "KILL".equals(signal)) {
            pids.add(root.pid());
        }
        root.descendants().forEach(d -> pids.add(d.pid()));
        if (pids.isEmpty()) {
            return;
        }
        if ("TERM".equals(signal) || "KILL".equals(signal)) {
            boolean force = "KILL".equals(signal);
            for (long pid : pids) {
                ProcessHandle.of(pid).ifPresent(h -> {
                    if (force) {
                        h.destroyForcibly();
                    } else {
                        h.destroy();
                    }
                });
            }
            return;
        }
        List<String> cmd = new ArrayList<>(List.of("kill", "-s", signal));
        pids.forEach(p -> cmd.add(Long.toString(p)));
        try {
            new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start().waitFor(5, TimeUnit.SECONDS);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
