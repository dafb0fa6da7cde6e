package dev.phoenix.e2e;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Predicate;

/** Where the repository is and the class paths of the processes the local stack starts. */
public final class Repo {
    private Repo() {}

    /**
     * The repository root: the first directory upwards from the working directory that has {@code
     * crds/}.
     */
    public static Path root() {
        String prop = System.getProperty("phoenix.repo");
        if (prop != null) {
            return Path.of(prop).toAbsolutePath();
        }
        Path p = Path.of("").toAbsolutePath();
        while (p != null
                && !(Files.isDirectory(p.resolve("crds")) && Files.exists(p.resolve("pom.xml")))) {
            p = p.getParent();
        }
        if (p == null) {
            throw new IllegalStateException(
                    "cannot find the repository root (a directory with crds/ and pom.xml) above "
                            + Path.of("").toAbsolutePath());
        }
        return p;
    }

    public static Path crd() {
        return root().resolve("crds/trainingjobs.phoenix.dev-v1.yml");
    }

    /**
     * The trainer's class path (the uninterrupted reference runs): env/system property {@code
     * PHOENIX_TRAINER_CLASSPATH} if set, else this JVM's class path (which Maven resolved with the
     * trainer and ND4J on it) with the trainer's own entries first, so its logback.xml wins.
     */
    public static String trainerClasspath() {
        return override(
                "PHOENIX_TRAINER_CLASSPATH",
                () ->
                        ownEntriesFirst(
                                e ->
                                        e.contains("phoenix-trainer")
                                                || e.contains(
                                                        "trainer-image"
                                                                + File.separator
                                                                + "target")));
    }

    /**
     * The operator's class path: {@code PHOENIX_OPERATOR_CLASSPATH} if set, else this JVM's with
     * the operator first.
     */
    public static String operatorClasspath() {
        return override(
                "PHOENIX_OPERATOR_CLASSPATH",
                () ->
                        ownEntriesFirst(
                                e ->
                                        e.contains("phoenix-operator")
                                                || e.contains(
                                                        "operator" + File.separator + "target")));
    }

    /** This JVM's class path. */
    public static String ownClasspath() {
        return System.getProperty("java.class.path");
    }

    private static String override(String name, java.util.function.Supplier<String> dflt) {
        String v = System.getProperty(name);
        if (v == null || v.isBlank()) {
            v = System.getenv(name);
        }
        return v == null || v.isBlank() ? dflt.get() : v;
    }

    private static String ownEntriesFirst(Predicate<String> own) {
        List<String> entries =
                new ArrayList<>(
                        Arrays.asList(
                                System.getProperty("java.class.path").split(File.pathSeparator)));
        // Not e2e's own classes: its logback.xml is for the test JVM.
        entries.removeIf(e -> e.contains("e2e" + File.separator + "target"));
        List<String> first = entries.stream().filter(own).toList();
        List<String> rest = entries.stream().filter(own.negate()).toList();
        List<String> all = new ArrayList<>(first);
        all.addAll(rest);
        return String.join(File.pathSeparator, all);
    }

    /**
     * JVM options for short-lived helper JVMs (trainers, the operator): quick start, small
     * footprint.
     */
    public static final String SMALL_JVM_OPTS =
            "-Dlogback.statusListenerClass=ch.qos.logback.core.status.NopStatusListener -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xss512k -Xmx384m";

    /**
     * The Python of phoenix-torch's virtualenv (the PyTorch reference runs): {@code
     * PHOENIX_TORCH_PYTHON} if set, else {@code <venv>/bin/python} of {@code hack/python-env.sh}
     * (cached: about a second).
     */
    public static synchronized Path torchPython() throws java.io.IOException {
        String o =
                System.getProperty("PHOENIX_TORCH_PYTHON", System.getenv("PHOENIX_TORCH_PYTHON"));
        if (o != null && !o.isBlank()) {
            return Path.of(o);
        }
        if (torchPython == null) {
            Process p =
                    new ProcessBuilder("bash", root().resolve("hack/python-env.sh").toString())
                            .redirectError(ProcessBuilder.Redirect.DISCARD)
                            .start();
            String out = new String(p.getInputStream().readAllBytes()).strip();
            try {
                if (p.waitFor() != 0) {
                    throw new java.io.IOException("hack/python-env.sh exited " + p.exitValue());
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new java.io.IOException(e);
            }
            String[] lines = out.split("\n");
            torchPython = Path.of(lines[lines.length - 1].strip(), "bin", "python");
        }
        return torchPython;
    }

    private static Path torchPython;
}
