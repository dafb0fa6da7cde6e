package dev.phoenix.local.node;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class ImageMappingTest {

    private final ImageMapping images = ImageMapping.defaults();
    private final Map<String, String> vars = Map.of("PHOENIX_TRAINER_CLASSPATH", "/cp/a.jar:/cp/b.jar", "PHOENIX_TRAINER_JAVA_OPTS", "-Xmx1g  -Dx=y");

    @Test
    void trainerImageOfAnyTagAndRegistryMapsToJava() {
        var r = images.resolve("ghcr.io/acme/phoenix/trainer:1.2.3", List.of(), List.of("--steps", "10"), vars::get);
        assertThat(r.command()).containsExactly("java", "-Xmx1g", "-Dx=y", "-cp", "/cp/a.jar:/cp/b.jar", "dev.phoenix.trainer.Main", "--steps", "10");
        assertThat(r.mapped()).isTrue();
        var digest = images.resolve("phoenix/trainer@sha256:abc", List.of(), List.of(), vars::get);
        assertThat(digest.command()).endsWith("dev.phoenix.trainer.Main");
    }

    @Test
    void commandRules() {
        // a known program of the image is replaced by the mapped prefix
        var p = images.resolve("phoenix/trainer:latest", List.of("trainer", "--x"), List.of("--y"), vars::get);
        assertThat(p.command()).containsSubsequence("dev.phoenix.trainer.Main", "--x", "--y");
        // any other command replaces the entrypoint and runs as a host program
        var o = images.resolve("phoenix/trainer:latest", List.of("sh", "-c", "true"), List.of(), vars::get);
        assertThat(o.command()).containsExactly("sh", "-c", "true");
        // unmapped images: command + args
        var u = images.resolve("local/sh", List.of("sh", "-c"), List.of("exit 3"), vars::get);
        assertThat(u.command()).containsExactly("sh", "-c", "exit 3");
        assertThat(u.mapped()).isFalse();
        assertThatThrownBy(() -> images.resolve("busybox", List.of(), List.of("x"), vars::get)).hasMessageContaining("no local mapping");
    }

    @Test
    void missingVariableIsAnError() {
        assertThatThrownBy(() -> images.resolve("phoenix/trainer", List.of(), List.of(), k -> null))
                .hasMessageContaining("PHOENIX_TRAINER_CLASSPATH");
    }

    @Test
    void repository() {
        assertThat(ImageMapping.repository("localhost:5000/phoenix/trainer:v1")).isEqualTo("localhost:5000/phoenix/trainer");
        assertThat(ImageMapping.repository("localhost:5000/phoenix/trainer")).isEqualTo("localhost:5000/phoenix/trainer");
        assertThat(ImageMapping.expand("${A:-d}-${B}", k -> k.equals("B") ? "b" : null)).isEqualTo("d-b");
    }

    @Test
    void kubeletVariableExpansion() {
        Map<String, String> env = Map.of("A", "x");
        assertThat(EnvResolver.expand("$(A)/$(B)/$$(A)/$A/$(", env)).isEqualTo("x/$(B)/$(A)/$A/$(");
    }

    @Test
    void fallbackRewritesPathsBelowMounts() {
        var spec = new Sandbox.Spec(List.of(), Map.of(), List.of(new Sandbox.Mount(java.nio.file.Path.of("/w/v/data"), "/data", false)),
                java.nio.file.Path.of("/w/t"), "/dev/termination-log", null, null, java.nio.file.Path.of("/w/log"), null);
        assertThat(Sandbox.rewrite("/data/ckpt", spec)).isEqualTo("/w/v/data/ckpt");
        assertThat(Sandbox.rewrite("/database", spec)).isEqualTo("/database");
        assertThat(Sandbox.rewrite("/dev/termination-log", spec)).isEqualTo("/w/t");
    }
}
