package dev.phoenix.trainer;

import static org.assertj.core.api.Assertions.assertThat;

import dev.phoenix.trainer.checkpoint.CheckpointStore;
import dev.phoenix.trainer.checkpoint.Manifest;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Layout rules: what counts as committed, retention, aside-moves. */
class CheckpointStoreTest {
    @TempDir Path tmp;

    private Path committed(CheckpointStore store, long step, String timeline) throws Exception {
        Path d = store.stepDir(step);
        Files.createDirectories(d);
        Files.writeString(d.resolve(Manifest.FILE), "{\"timeline\":\"" + timeline + "\"}");
        return d;
    }

    @Test
    void onlyDirectoriesWithAManifestAreCommitted() throws Exception {
        CheckpointStore store = new CheckpointStore(tmp);
        committed(store, 10, "t1");
        Files.createDirectories(store.stepDir(20)); // no manifest
        Files.createDirectories(tmp.resolve("step-0000000030.tmp-abc"));
        Files.createDirectories(tmp.resolve("step-40")); // wrong name
        assertThat(store.committed().keySet()).containsExactly(10L);
        assertThat(CheckpointStore.dirName(40)).isEqualTo("step-0000000040");
    }

    @Test
    void retentionKeepsTheNewestAndTheResumeCheckpoint() throws Exception {
        CheckpointStore store = new CheckpointStore(tmp);
        for (long s : new long[] {10, 20, 30, 40, 50}) {
            committed(store, s, "t1");
        }
        assertThat(store.retain(2, 20)).containsExactly(30L, 10L);
        assertThat(store.committed().keySet()).containsExactly(20L, 40L, 50L);
        assertThat(store.retain(0, -1)).isEmpty();
        try (var s = Files.list(tmp)) {
            assertThat(s.map(p -> p.getFileName().toString()))
                    .noneMatch(n -> n.startsWith(".deleting"));
        }
    }

    @Test
    void newerDirectoriesAndLeftoversAreMovedAside() throws Exception {
        CheckpointStore store = new CheckpointStore(tmp);
        committed(store, 10, "t1");
        committed(store, 20, "t1");
        committed(store, 30, "t1");
        Files.createDirectories(store.stepDir(40)); // uncommitted but newer: also aside
        Files.createDirectories(tmp.resolve("step-0000000015.tmp-xyz"));
        Files.createDirectories(tmp.resolve(".deleting-step-0000000005-abc"));
        assertThat(store.moveAsideNewerThan(20)).hasSize(3);
        try (var s = Files.list(tmp)) {
            assertThat(s.map(p -> p.getFileName().toString()))
                    .containsExactlyInAnyOrder(
                            "step-0000000010", "step-0000000020", CheckpointStore.ABANDONED);
        }
        try (var s = Files.list(tmp.resolve(CheckpointStore.ABANDONED))) {
            assertThat(s.map(p -> p.getFileName().toString().replaceAll("_.*", "")))
                    .containsExactlyInAnyOrder("t1", "unknown", "uncommitted");
        }
    }
}
