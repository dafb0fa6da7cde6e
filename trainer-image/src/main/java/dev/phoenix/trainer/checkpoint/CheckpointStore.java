package dev.phoenix.trainer.checkpoint;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.TreeMap;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The checkpoint directory: {@code step-<N, 10 digits>/} per committed checkpoint, {@code
 * step-<N>.tmp-<random>/} while one is written, {@code abandoned/} for directories moved aside.
 */
public final class CheckpointStore {
    private static final Logger log = LoggerFactory.getLogger(CheckpointStore.class);
    public static final Pattern STEP_DIR = Pattern.compile("step-(\\d{10})");
    public static final Pattern TMP_DIR = Pattern.compile("step-(\\d{10})\\.tmp-.+");
    public static final String ABANDONED = "abandoned";
    private static final String DELETING_PREFIX = ".deleting-";
    private static final DateTimeFormatter STAMP =
            DateTimeFormatter.ofPattern("yyyyMMdd'T'HHmmss.SSS'Z'");

    private final Path root;

    public CheckpointStore(Path root) {
        this.root = root;
    }

    public Path root() {
        return root;
    }

    public static String dirName(long step) {
        return String.format("step-%010d", step);
    }

    public Path stepDir(long step) {
        return root.resolve(dirName(step));
    }

    public void ensureRoot() throws IOException {
        Files.createDirectories(root);
    }

    public Path newTmpDir(long step) throws IOException {
        ensureRoot();
        Path tmp =
                root.resolve(
                        dirName(step) + ".tmp-" + UUID.randomUUID().toString().substring(0, 8));
        Files.createDirectory(tmp);
        return tmp;
    }

    /** Committed checkpoints (a step directory that has a manifest), by step, oldest first. */
    public TreeMap<Long, Path> committed() throws IOException {
        TreeMap<Long, Path> out = new TreeMap<>();
        if (!Files.isDirectory(root)) {
            return out;
        }
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(root)) {
            for (Path p : ds) {
                Matcher m = STEP_DIR.matcher(p.getFileName().toString());
                if (m.matches()
                        && Files.isDirectory(p)
                        && Files.isRegularFile(p.resolve(Manifest.FILE))) {
                    out.put(Long.parseLong(m.group(1)), p);
                }
            }
        }
        return out;
    }

    /**
     * The first committed checkpoint that another TrainingJob wrote (its manifest names a different
     * job UID), described with its owner, or empty. Checkpoints without a UID (written outside
     * Kubernetes) belong to nobody in particular and are accepted.
     */
    public Optional<String> foreignOwner(String jobUid) throws IOException {
        if (jobUid == null || jobUid.isBlank()) {
            return Optional.empty();
        }
        for (Path dir : committed().descendingMap().values()) {
            Manifest m;
            try {
                m = Json.CANONICAL.readValue(dir.resolve(Manifest.FILE).toFile(), Manifest.class);
            } catch (IOException | RuntimeException e) {
                continue; // an unreadable manifest is not a checkpoint; verification says so when
                // it matters
            }
            if (m.jobUid() != null && !m.jobUid().equals(jobUid)) {
                return Optional.of(
                        dir.getFileName()
                                + " belongs to job "
                                + (m.job() == null ? "?" : m.job())
                                + " (uid "
                                + m.jobUid()
                                + ")");
            }
        }
        return Optional.empty();
    }

    /** Uncommitted temporary directories of a step (saves that never completed). */
    public List<Path> tmpDirs(long step) throws IOException {
        List<Path> out = new ArrayList<>();
        if (!Files.isDirectory(root)) {
            return out;
        }
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(root, dirName(step) + ".tmp-*")) {
            ds.forEach(out::add);
        }
        return out;
    }

    /**
     * Moves every step directory newer than {@code keepUpTo} and every leftover temporary directory
     * into {@code abandoned/<old timeline>_<time>/}, so that nothing of an abandoned timeline can
     * later be mistaken for the current one. Also finishes interrupted retention deletions. Returns
     * what was moved.
     */
    public List<Path> moveAsideNewerThan(long keepUpTo) throws IOException {
        List<Path> moved = new ArrayList<>();
        if (!Files.isDirectory(root)) {
            return moved;
        }
        String stamp = ZonedDateTime.now(ZoneOffset.UTC).format(STAMP);
        List<Path> entries = new ArrayList<>();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(root)) {
            ds.forEach(entries::add);
        }
        entries.sort(Comparator.comparing(p -> p.getFileName().toString()));
        for (Path p : entries) {
            String name = p.getFileName().toString();
            if (name.startsWith(DELETING_PREFIX)) {
                deleteRecursively(p);
                continue;
            }
            Matcher step = STEP_DIR.matcher(name);
            boolean newer = step.matches() && Long.parseLong(step.group(1)) > keepUpTo;
            boolean tmp = TMP_DIR.matcher(name).matches();
            if (!newer && !tmp) {
                continue;
            }
            String label = tmp ? "uncommitted" : timelineOf(p).orElse("unknown");
            Path target = root.resolve(ABANDONED).resolve(label + "_" + stamp).resolve(name);
            Files.createDirectories(target.getParent());
            Files.move(p, target, StandardCopyOption.ATOMIC_MOVE);
            log.warn(
                    "moved {} aside to {} ({})",
                    name,
                    root.relativize(target),
                    tmp
                            ? "uncommitted save"
                            : "newer than resume step " + keepUpTo + ", abandoned timeline");
            moved.add(target);
        }
        if (!moved.isEmpty()) {
            fsyncDir(root);
        }
        return moved;
    }

    /** Moves an existing directory out of the way of a commit (same step written again). */
    void moveAsideExisting(Path dir) throws IOException {
        String stamp = ZonedDateTime.now(ZoneOffset.UTC).format(STAMP);
        Path target =
                root.resolve(ABANDONED)
                        .resolve("replaced_" + stamp)
                        .resolve(dir.getFileName().toString());
        Files.createDirectories(target.getParent());
        Files.move(dir, target, StandardCopyOption.ATOMIC_MOVE);
        log.warn("moved existing {} aside to {}", dir.getFileName(), root.relativize(target));
    }

    /** The timeline a step directory's manifest names; empty when unreadable or not an id. */
    public Optional<String> timelineOf(Path stepDir) {
        try {
            Manifest m =
                    Json.CANONICAL.readValue(
                            stepDir.resolve(Manifest.FILE).toFile(), Manifest.class);
            return Optional.ofNullable(m.timeline()).filter(t -> t.matches("[A-Za-z0-9._-]+"));
        } catch (IOException | RuntimeException e) {
            return Optional.empty();
        }
    }

    /**
     * Keeps the newest {@code keep} committed checkpoints (0 = all) and never deletes {@code
     * protectedStep} (the one the current attempt resumed from). Only directories at or below the
     * current step exist here: newer ones were moved aside at start, so all of them belong to the
     * current timeline's history.
     */
    public List<Long> retain(int keep, long protectedStep) throws IOException {
        List<Long> deleted = new ArrayList<>();
        if (keep <= 0) {
            return deleted;
        }
        List<Long> steps = new ArrayList<>(committed().descendingKeySet());
        for (int i = keep; i < steps.size(); i++) {
            long s = steps.get(i);
            if (s == protectedStep) {
                continue;
            }
            Path dir = stepDir(s);
            Path doomed =
                    root.resolve(
                            DELETING_PREFIX
                                    + dir.getFileName()
                                    + "-"
                                    + UUID.randomUUID().toString().substring(0, 8));
            Files.move(dir, doomed, StandardCopyOption.ATOMIC_MOVE);
            deleteRecursively(doomed);
            deleted.add(s);
        }
        if (!deleted.isEmpty()) {
            fsyncDir(root);
        }
        return deleted;
    }

    /**
     * Deletes a directory tree (benchmarks and tools; the trainer itself only deletes through
     * retention).
     */
    public static void deleteTree(Path p) throws IOException {
        deleteRecursively(p);
    }

    static void deleteRecursively(Path p) throws IOException {
        if (!Files.exists(p)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(p)) {
            for (Path q : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(q);
            }
        }
    }

    public static void fsyncDir(Path dir) throws IOException {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        }
    }
}
