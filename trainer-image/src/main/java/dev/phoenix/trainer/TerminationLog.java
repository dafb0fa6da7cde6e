package dev.phoenix.trainer;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Writes the termination message (Kubernetes reads {@code /dev/termination-log}). */
final class TerminationLog {
    private static final Logger log = LoggerFactory.getLogger(TerminationLog.class);
    private static final Path DEFAULT = Path.of("/dev/termination-log");

    private TerminationLog() {}

    static void write(Path path, String json) {
        System.out.println("termination message: " + json);
        System.out.flush();
        if (path == null) {
            return;
        }
        if (path.equals(DEFAULT) && !Files.exists(path)) {
            log.info("{} does not exist (not in a pod?); termination message only logged", path);
            return;
        }
        try {
            if (path.getParent() != null) {
                Files.createDirectories(path.getParent());
            }
            try (var ch =
                    java.nio.channels.FileChannel.open(
                            path,
                            StandardOpenOption.CREATE,
                            StandardOpenOption.WRITE,
                            StandardOpenOption.TRUNCATE_EXISTING)) {
                ch.write(java.nio.ByteBuffer.wrap(json.getBytes(StandardCharsets.UTF_8)));
                try {
                    ch.force(true);
                } catch (IOException ignored) {
                    // /dev/termination-log may not support fsync
                }
            }
        } catch (IOException e) {
            log.warn("cannot write termination message to {}: {}", path, e.toString());
        }
    }
}
