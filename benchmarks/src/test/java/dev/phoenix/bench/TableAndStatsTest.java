package dev.phoenix.bench;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Smoke test of the benchmarks' arithmetic and formatting only; no timing is asserted anywhere. */
class TableAndStatsTest {
    @Test
    void nearestRankPercentilesAndRatios() {
        Stats s = Stats.of(List.of(5, 1, 4, 2, 3, 6, 7, 8, 9, 10));
        assertThat(s.n()).isEqualTo(10);
        assertThat(s.p50()).isEqualTo(5);
        assertThat(s.p95()).isEqualTo(10);
        assertThat(s.max()).isEqualTo(10);
        assertThat(Stats.of(List.of()).summary("%.0f")).isEqualTo("n/a");
        assertThat(Stats.ratio(150, 10)).isEqualTo("15×");
        assertThat(Stats.ratio(25, 10)).isEqualTo("2.50×");
        assertThat(Stats.ratio(1, 0)).isEqualTo("n/a");
        assertThat(Stats.pct(1, 4)).isEqualTo("25%");
    }

    @Test
    void markdownTable() {
        String md = new Table("T", "a", "b").row("x|y", 1).note("n").markdown();
        assertThat(md).isEqualTo("#### T\n\n| a | b |\n| --- | --- |\n| x\\|y | 1 |\n\nn\n");
    }

    @Test
    void requestsAreNamedByVerbAndResource() {
        assertThat(
                        RequestCounter.key(
                                "GET",
                                URI.create(
                                        "https://h/api/v1/namespaces/n/pods?labelSelector=x&watch=true")))
                .isEqualTo("watch pods");
        assertThat(RequestCounter.key("GET", URI.create("https://h/api/v1/namespaces/n/pods")))
                .isEqualTo("list pods");
        assertThat(RequestCounter.key("GET", URI.create("https://h/api/v1/nodes/n1")))
                .isEqualTo("get nodes");
        assertThat(
                        RequestCounter.key(
                                "PUT",
                                URI.create(
                                        "https://h/apis/phoenix.dev/v1alpha1/namespaces/n/trainingjobs/j/status")))
                .isEqualTo("update trainingjobs/status");
        assertThat(
                        RequestCounter.key(
                                "PATCH",
                                URI.create(
                                        "https://h/apis/coordination.k8s.io/v1/namespaces/d/leases/l")))
                .isEqualTo("patch leases");
        assertThat(RequestCounter.minus(Map.of("a", 3L, "b", 1L), Map.of("a", 1L, "b", 1L)))
                .containsExactly(Map.entry("a", 2L));
    }
}
