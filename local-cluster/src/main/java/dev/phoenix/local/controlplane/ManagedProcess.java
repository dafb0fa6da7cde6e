package dev.phoenix.local.controlplane;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** One child process of the control plane, its output appended to a log file. */
final class ManagedProcess {
  private final String name;
  private final Path logFile;
  private final Process process;

  private ManagedProcess(String name, Path logFile, Process process) {
    this.name = name;
    this.logFile = logFile;
    this.process = process;
  }

  static ManagedProcess start(String name, List<String> command, Path workDir, Path logFile)
      throws IOException {
    Files.createDirectories(logFile.getParent());
    Files.writeString(logFile, "# " + String.join(" ", command) + System.lineSeparator(),
        StandardCharsets.UTF_8);
    ProcessBuilder pb = new ProcessBuilder(command)
        .directory(workDir.toFile())
        .redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.appendTo(logFile.toFile()))
        .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
    // Components must never pick up the caller's cluster.
    pb.environment().remove("KUBECONFIG");
    return new ManagedProcess(name, logFile, pb.start());
  }

  String name() {
    return name;
  }

  Path logFile() {
    return logFile;
  }

  long pid() {
    return process.pid();
  }

  boolean isAlive() {
    return process.isAlive();
  }

  /** SIGTERM, wait up to {@code graceMillis}, then SIGKILL. */
  void stop(long graceMillis) {
    if (!process.isAlive()) {
      return;
    }
    process.destroy();
    try {
      if (!process.waitFor(graceMillis, TimeUnit.MILLISECONDS)) {
        process.destroyForcibly();
        process.waitFor(5, TimeUnit.SECONDS);
      }
    } catch (InterruptedException e) {
      process.destroyForcibly();
      Thread.currentThread().interrupt();
    }
  }

  /** The last {@code lines} lines of the log, for exception messages. */
  String tail(int lines) {
    return tail(logFile, lines);
  }

  static String tail(Path file, int lines) {
    if (!Files.isRegularFile(file)) {
      return "(no log " + file + ")";
    }
    Deque<String> last = new ArrayDeque<>();
    try (var reader = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
      String line;
      while ((line = reader.readLine()) != null) {
        last.addLast(line.length() > 2000 ? line.substring(0, 2000) + "…" : line);
        if (last.size() > lines) {
          last.removeFirst();
        }
      }
    } catch (IOException | java.io.UncheckedIOException e) {
      return "(cannot read " + file + ": " + e + ")";
    }
    return String.join(System.lineSeparator(), last);
  }

  String describeForError() {
    return "---- " + name + (process.isAlive() ? " (running" : " (exited " + process.exitValue())
        + ", log " + logFile + ") last lines:" + System.lineSeparator() + tail(40);
  }
}
