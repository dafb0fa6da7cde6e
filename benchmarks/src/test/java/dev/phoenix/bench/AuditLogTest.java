package dev.phoenix.bench;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AuditLogTest {

    private static String event(String at, String ua, String user, String verb, String res) {
        return String.format(
                "{\"kind\":\"Event\",\"stage\":\"ResponseComplete\",\"verb\":\"%s\",\"userAgent\":\"%s\","
                        + "\"user\":{\"username\":\"%s\"},\"objectRef\":{%s},\"requestReceivedTimestamp\":\"%s\"}",
                verb, ua, user, res, at);
    }

    @Test
    void requestsAreCountedBySourceInTheWindow(@TempDir Path dir) throws Exception {
        Path log = dir.resolve("audit.log");
        Files.write(
                log,
                List.of(
                        event(
                                "2026-12-03T10:00:00.000000Z",
                                "phoenix-operator",
                                "admin",
                                "create",
                                "\"resource\":\"pods\""),
                        event(
                                "2026-12-03T10:00:01.000000Z",
                                "phoenix-operator",
                                "admin",
                                "patch",
                                "\"resource\":\"trainingjobs\",\"subresource\":\"status\""),
                        event(
                                "2026-12-03T10:00:01.500000Z",
                                "kube-controller-manager/v1.37.2 (linux/amd64) kubernetes/abc/system:serviceaccount:kube-system:job-controller",
                                "system:serviceaccount:kube-system:job-controller",
                                "create",
                                "\"resource\":\"pods\""),
                        event(
                                "2026-12-03T10:00:02.000000Z",
                                "kube-scheduler/v1.37.2",
                                "system:kube-scheduler",
                                "create",
                                "\"resource\":\"pods\",\"subresource\":\"binding\""),
                        event(
                                "2026-12-03T10:00:09.000000Z",
                                "phoenix-operator",
                                "admin",
                                "delete",
                                "\"resource\":\"pods\"")));
        List<AuditLog.Request> in =
                AuditLog.read(
                        log,
                        Instant.parse("2026-12-03T10:00:00Z"),
                        Instant.parse("2026-12-03T10:00:05Z"));
        assertThat(in).hasSize(4);
        var by = AuditLog.bySource(in);
        assertThat(by.get("phoenix-operator"))
                .containsEntry("create pods", 1L)
                .containsEntry("patch trainingjobs/status", 1L);
        assertThat(by.get("kube-controller-manager/job-controller"))
                .containsEntry("create pods", 1L);
        assertThat(by.get("kube-scheduler")).containsEntry("create pods/binding", 1L);
    }

    @Test
    void theSourceOfARequestIsItsUserAgent() {
        assertThat(AuditLog.source("kwok/v0.8.0", "admin")).isEqualTo("KWOK");
        assertThat(AuditLog.source("jobset/v0.0.0 (linux/amd64) kubernetes/$Format", "admin"))
                .isEqualTo("jobset");
        assertThat(
                        AuditLog.source(
                                "kube-controller-manager/v1.37.2",
                                "system:kube-controller-manager"))
                .isEqualTo("kube-controller-manager");
        assertThat(AuditLog.source("", "admin")).isEqualTo("(no user agent)");
    }
}
