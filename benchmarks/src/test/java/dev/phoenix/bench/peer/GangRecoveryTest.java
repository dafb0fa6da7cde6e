package dev.phoenix.bench.peer;

import static org.assertj.core.api.Assertions.assertThat;

import dev.phoenix.bench.PodRecorder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import javax.xml.parsers.DocumentBuilderFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class GangRecoveryTest {
    static final long MS = 1_000_000L;

    static PodRecorder.Trace trace(
            String uid, long added, long disruption, long gone, long running) {
        Pod p =
                new PodBuilder()
                        .withNewMetadata()
                        .withName("w-" + uid)
                        .withUid(uid)
                        .withLabels(Map.of("phoenix.dev/job", "j"))
                        .endMetadata()
                        .build();
        PodRecorder.Trace t = new PodRecorder.Trace(p);
        t.added = added;
        t.disruption = disruption;
        t.gone = gone;
        t.running = running;
        return t;
    }

    @Test
    void segmentsAreMeasuredFromTheVictimsDisruptionAndCoverTheWholeGang() {
        long issued = 1_000 * MS;
        // Old gang a (victim), b; new gang c, d; an earlier generation e long gone.
        List<PodRecorder.Trace> traces =
                List.of(
                        trace("a", 10 * MS, issued + 5 * MS, issued + 40 * MS, 20 * MS),
                        trace("b", 10 * MS, 0, issued + 45 * MS, 20 * MS),
                        trace("c", issued + 60 * MS, 0, 0, issued + 90 * MS),
                        trace("d", issued + 70 * MS, 0, 0, issued + 80 * MS),
                        trace("e", 1 * MS, 0, 2 * MS, 1 * MS));
        GangRecovery r = GangRecovery.of(traces, Set.of("a", "b"), Set.of("a", "b"), "a", issued);
        assertThat(r.issuedToObserved()).isEqualTo(5.0);
        assertThat(r.oldGone()).isEqualTo(40.0);
        assertThat(r.created()).isEqualTo(65.0);
        assertThat(r.running()).isEqualTo(85.0);
    }

    @Test
    void aTimelineTheWatchMissedIsLeftOut() {
        long issued = 1_000 * MS;
        List<PodRecorder.Trace> traces =
                List.of(
                        trace("a", 10 * MS, issued + 5 * MS, 0, 20 * MS), // never seen gone
                        trace("c", issued + 60 * MS, 0, 0, issued + 90 * MS));
        assertThat(GangRecovery.of(traces, Set.of("a"), Set.of("a"), "a", issued)).isNull();
    }

    @Test
    void theChartIsSvgWithOneRowPerPeerAndGangSize(@TempDir Path tmp) throws Exception {
        Path svg = tmp.resolve("chart.svg");
        GangRecovery fast = new GangRecovery(1, 10, 20, 30);
        GangRecovery slow = new GangRecovery(1, 100, 900, 1500);
        RecoveryChart.write(
                svg,
                Map.of(
                        "bare <floor>", Map.of(2, List.of(fast, fast), 64, List.of(slow)),
                        "Phoenix", Map.of(2, List.of(fast, slow))));
        var doc = DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(svg.toFile());
        assertThat(doc.getDocumentElement().getTagName()).isEqualTo("svg");
        assertThat(doc.getElementsByTagName("circle").getLength()).isEqualTo(5);
        assertThat(Files.readString(svg)).contains("bare &lt;floor&gt;").contains("64 pods");
    }
}
