package dev.phoenix.trainer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.phoenix.trainer.config.TrainerConfig;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ConfigTest {

    @Test
    void environmentProvidesDefaultsAndFlagsWin() {
        Map<String, String> env =
                Map.of(
                        "PHOENIX_CHECKPOINT_DIR",
                        "/ckpt",
                        "PHOENIX_CHECKPOINT_INTERVAL",
                        "25",
                        "PHOENIX_CHECKPOINT_KEEP",
                        "4",
                        "PHOENIX_RESUME_STEP",
                        "50",
                        "PHOENIX_ATTEMPT",
                        "3",
                        "PHOENIX_TIMELINE",
                        "t2",
                        "RANK",
                        "1",
                        "WORLD_SIZE",
                        "2",
                        "PHOENIX_TOTAL_STEPS",
                        "500",
                        "PHOENIX_REPORT_CONFIGMAP",
                        "job-report");
        TrainerConfig c = TrainerConfig.parse(env);
        assertThat(c.checkpointDir).isEqualTo(Path.of("/ckpt"));
        assertThat(c.checkpointInterval).isEqualTo(25);
        assertThat(c.checkpointKeep).isEqualTo(4);
        assertThat(c.resumeStep).isEqualTo(50);
        assertThat(c.attempt).isEqualTo(3);
        assertThat(c.timeline).isEqualTo("t2");
        assertThat(c.rank).isEqualTo(1);
        assertThat(c.worldSize).isEqualTo(2);
        assertThat(c.steps).isEqualTo(500);
        assertThat(c.reportConfigMap).isEqualTo("job-report");
        assertThat(c.terminationLog).isEqualTo(Path.of("/dev/termination-log"));

        TrainerConfig f =
                TrainerConfig.parse(env, "--steps", "700", "--rank", "0", "--resume-step", "-1");
        assertThat(f.steps).isEqualTo(700);
        assertThat(f.rank).isZero();
        assertThat(f.resuming()).isFalse();
        assertThat(f.checkpointInterval).isEqualTo(25);

        TrainerConfig p =
                TrainerConfig.parse(
                        Map.of("PHOENIX_RANK", "3", "RANK", "1", "PHOENIX_WORLD_SIZE", "4"));
        assertThat(p.rank).isEqualTo(3);
        assertThat(p.worldSize).isEqualTo(4);
    }

    @Test
    void defaultsWithoutEnvironment() {
        TrainerConfig c = TrainerConfig.parse(Map.of());
        assertThat(c.resumeStep).isEqualTo(-1);
        assertThat(c.worldSize).isEqualTo(1);
        assertThat(c.graceSeconds).isEqualTo(30);
        assertThat(c.timeline).isEqualTo("t1");
        assertThat(c.reportConfigMap).isNull();
        c.validate();
    }

    @Test
    void validationRejectsNonsense() {
        assertThatThrownBy(
                        () ->
                                TrainerConfig.parse(Map.of(), "--rank", "2", "--world-size", "2")
                                        .validate())
                .hasMessageContaining("--rank");
    }

    @Test
    void helpListsFlagsWithTheirEnvironmentVariables() {
        PrintStream old = System.out;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        System.setOut(new PrintStream(buf));
        int code;
        try {
            code = Main.run(false, Map.of(), "--help");
        } finally {
            System.setOut(old);
        }
        assertThat(code).isZero();
        assertThat(buf.toString())
                .contains("--resume-step", "PHOENIX_RESUME_STEP", "--stop-at-step", "Exit codes");
        assertThat(Main.run(false, Map.of(), "--no-such-flag")).isEqualTo(2);
    }
}
