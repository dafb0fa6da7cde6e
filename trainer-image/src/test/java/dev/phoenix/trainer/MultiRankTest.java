package dev.phoenix.trainer;

import static dev.phoenix.trainer.TrainerProcess.SMALL_MODEL;
import static dev.phoenix.trainer.TrainerProcess.args;
import static org.assertj.core.api.Assertions.assertThat;

import dev.phoenix.trainer.checkpoint.CheckpointReader;
import dev.phoenix.trainer.checkpoint.CheckpointStore;
import dev.phoenix.trainer.model.ModelSpec;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two data-parallel ranks in separate JVMs over the TCP collective: identical state on both ranks,
 * an agreed stop, and an interrupted gang run that ends bit-identical to the uninterrupted gang
 * run.
 */
class MultiRankTest {
    static final ModelSpec SPEC = new ModelSpec(32, 64, 2, 10);

    @TempDir Path tmp;

    static int freePort(String addr) throws Exception {
        try (ServerSocket s = new ServerSocket()) {
            s.bind(new InetSocketAddress(InetAddress.getByName(addr), 0));
            return s.getLocalPort();
        }
    }

    List<TrainerProcess> startGang(String addr, Path ckpt, String... more) throws Exception {
        int port = freePort(addr);
        List<TrainerProcess> gang = new ArrayList<>();
        for (int rank = 0; rank < 2; rank++) {
            Map<String, String> env =
                    Map.of(
                            "PHOENIX_RANK",
                            String.valueOf(rank),
                            "PHOENIX_WORLD_SIZE",
                            "2",
                            "MASTER_ADDR",
                            addr,
                            "MASTER_PORT",
                            String.valueOf(port),
                            "PHOENIX_JOB_NAME",
                            "gang");
            gang.add(
                    TrainerProcess.start(
                            tmp,
                            env,
                            List.of(
                                    args(
                                            SMALL_MODEL,
                                            args(more, "--checkpoint-dir", ckpt.toString())))));
        }
        return gang;
    }

    static List<TrainerProcess.Result> await(List<TrainerProcess> gang) throws Exception {
        List<TrainerProcess.Result> out = new ArrayList<>();
        for (TrainerProcess p : gang) {
            out.add(p.await(240));
        }
        return out;
    }

    @Test
    void interruptedGangEndsBitIdenticalToUninterruptedGang() throws Exception {
        String[] run = {"--steps", "40", "--checkpoint-interval", "10"};
        List<TrainerProcess.Result> full = await(startGang("127.0.0.1", tmp.resolve("full"), run));
        for (TrainerProcess.Result r : full) {
            assertThat(r.exitCode()).as(r.describe()).isZero();
        }
        String expected = full.get(0).stateDigest();
        assertThat(expected).startsWith("sha256:");
        assertThat(full.get(1).termination()).isEqualTo(full.get(0).termination());
        assertThat(full.get(1).log()).contains("rows 16..32 of batch 32");

        // Distinct loopback address: gangs on one machine do not collide.
        Path ckpt = tmp.resolve("interrupted");
        List<TrainerProcess.Result> first =
                await(startGang("127.0.0.2", ckpt, args(run, "--stop-at-step", "17")));
        for (TrainerProcess.Result r : first) {
            assertThat(r.exitCode()).as(r.describe()).isEqualTo(143);
            assertThat(r.termination().path("step").asLong()).isEqualTo(17);
        }
        assertThat(first.get(0).termination().path("digest").asText()).startsWith("sha256:");
        List<TrainerProcess.Result> second =
                await(
                        startGang(
                                "127.0.0.2",
                                ckpt,
                                args(run, "--resume-step", "17", "--attempt", "2")));
        for (TrainerProcess.Result r : second) {
            assertThat(r.exitCode()).as(r.describe()).isZero();
            assertThat(r.stateDigest()).isEqualTo(expected);
        }
    }

    @Test
    void sigtermToOneRankStopsTheWholeGangAtTheSameStep() throws Exception {
        Path ckpt = tmp.resolve("sigterm");
        List<TrainerProcess> gang =
                startGang(
                        "127.0.0.1",
                        ckpt,
                        "--steps",
                        "100000",
                        "--checkpoint-interval",
                        "0",
                        "--step-sleep-ms",
                        "20",
                        "--log-interval-seconds",
                        "0.2");
        gang.get(0).awaitLog("step 1/100000", 90);
        Thread.sleep(1000);
        gang.get(1).process.destroy(); // SIGTERM to rank 1 only: rank 0 must still stop with it
        List<TrainerProcess.Result> results = await(gang);
        for (TrainerProcess.Result r : results) {
            assertThat(r.exitCode()).as(r.describe()).isEqualTo(143);
        }
        long step = results.get(0).termination().path("step").asLong();
        assertThat(results.get(1).termination().path("step").asLong()).isEqualTo(step);
        assertThat(results.get(0).termination().path("result").asText()).isEqualTo("Terminated");
        CheckpointReader.Loaded v =
                new CheckpointReader().verify(new CheckpointStore(ckpt), step, SPEC);
        assertThat(results.get(0).termination().path("digest").asText()).isEqualTo(v.digest());
    }

    @Test
    void aRankWhosePeerIsKilledSaysPeerLostNotFailed() throws Exception {
        // A node loss as the surviving rank sees it: its peer vanishes mid-collective (SIGKILL, no
        // goodbye).
        Path ckpt = tmp.resolve("peerlost");
        List<TrainerProcess> gang =
                startGang(
                        "127.0.0.1",
                        ckpt,
                        "--steps",
                        "100000",
                        "--checkpoint-interval",
                        "0",
                        "--step-sleep-ms",
                        "20",
                        "--log-interval-seconds",
                        "0.2");
        gang.get(1).awaitLog("step 1/100000", 90);
        gang.get(0).process.destroyForcibly();
        TrainerProcess.Result survivor = gang.get(1).await(120);
        assertThat(survivor.exitCode()).as(survivor.describe()).isEqualTo(ExitCodes.FAILED);
        assertThat(survivor.termination().path("result").asText())
                .as(survivor.describe())
                .isEqualTo("PeerLost");
        assertThat(survivor.termination().path("message").asText())
                .contains("lost the connection to rank 0");
        gang.get(0).await(30);
    }
}
