package dev.phoenix.bench.peer;

import dev.phoenix.bench.Stats;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * An SVG chart of recovery times (observed → all replacements running): one row per peer and gang
 * size, every preemption a dot, the box from p25 to p75 with the median, whiskers to p5 and p95, on
 * a log time axis. Plain SVG, no library: it only draws what the table already says.
 */
final class RecoveryChart {
    private static final String[] COLOURS = {"#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e"};
    private static final int LEFT = 330;
    private static final int WIDTH = 980;
    private static final int ROW = 34;
    private static final int TOP = 50;

    private RecoveryChart() {}

    static void write(Path file, Map<String, Map<Integer, List<GangRecovery>>> byPeer)
            throws IOException {
        List<String[]> labels = new ArrayList<>();
        List<List<Double>> rows = new ArrayList<>();
        List<Integer> colour = new ArrayList<>();
        double lo = Double.MAX_VALUE;
        double hi = 0;
        int p = 0;
        for (var peer : byPeer.entrySet()) {
            for (var size : peer.getValue().entrySet()) {
                List<Double> v =
                        new ArrayList<>(GangRecovery.col(size.getValue(), GangRecovery::running));
                v.removeIf(x -> x.isNaN() || x <= 0);
                v.sort(Double::compare);
                if (v.isEmpty()) {
                    continue;
                }
                lo = Math.min(lo, v.get(0));
                hi = Math.max(hi, v.get(v.size() - 1));
                labels.add(new String[] {peer.getKey(), size.getKey() + " pods"});
                rows.add(v);
                colour.add(p % COLOURS.length);
            }
            p++;
        }
        double min = Math.pow(10, Math.floor(Math.log10(Math.max(1, lo))));
        double max = Math.pow(10, Math.ceil(Math.log10(Math.max(10, hi))));
        int height = TOP + rows.size() * ROW + 60;
        StringBuilder s = new StringBuilder();
        s.append(
                String.format(
                        Locale.ROOT,
                        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" font-size=\"12\">%n",
                        WIDTH + 20,
                        height));
        s.append("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
        s.append(
                "<text x=\"10\" y=\"22\" font-size=\"15\" font-weight=\"bold\">Recovery after an eviction:"
                        + " disruption observed → all replacement pods running (ms, log scale)</text>\n");
        for (double tick = min; tick <= max * 1.0001; tick *= 10) {
            for (double m : new double[] {1, 2, 5}) {
                double v = tick * m;
                if (v > max * 1.0001) {
                    break;
                }
                double x = x(v, min, max);
                s.append(
                        String.format(
                                Locale.ROOT,
                                "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#ddd\"/>"
                                        + "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" fill=\"#555\">%s</text>%n",
                                x,
                                TOP - 10,
                                x,
                                TOP + rows.size() * ROW,
                                x,
                                TOP + rows.size() * ROW + 16,
                                v >= 1000
                                        ? String.format(Locale.ROOT, "%.0f s", v / 1000)
                                        : String.format(Locale.ROOT, "%.0f", v)));
            }
        }
        for (int i = 0; i < rows.size(); i++) {
            List<Double> v = rows.get(i);
            int y = TOP + i * ROW + ROW / 2;
            String c = COLOURS[colour.get(i)];
            s.append(
                    String.format(
                            Locale.ROOT,
                            "<text x=\"10\" y=\"%d\">%s</text><text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s</text>%n",
                            y + 4,
                            esc(labels.get(i)[0]),
                            LEFT - 10,
                            y + 4,
                            labels.get(i)[1]));
            double p5 = Stats.percentile(v, 5);
            double p25 = Stats.percentile(v, 25);
            double p50 = Stats.percentile(v, 50);
            double p75 = Stats.percentile(v, 75);
            double p95 = Stats.percentile(v, 95);
            s.append(
                    String.format(
                            Locale.ROOT,
                            "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"%s\"/>%n",
                            x(p5, min, max),
                            y,
                            x(p95, min, max),
                            y,
                            c));
            s.append(
                    String.format(
                            Locale.ROOT,
                            "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\" fill-opacity=\"0.25\" stroke=\"%s\"/>%n",
                            x(p25, min, max),
                            y - 10,
                            Math.max(1, x(p75, min, max) - x(p25, min, max)),
                            20,
                            c,
                            c));
            s.append(
                    String.format(
                            Locale.ROOT,
                            "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"%s\" stroke-width=\"3\"/>%n",
                            x(p50, min, max),
                            y - 10,
                            x(p50, min, max),
                            y + 10,
                            c));
            for (double d : v) {
                s.append(
                        String.format(
                                Locale.ROOT,
                                "<circle cx=\"%.1f\" cy=\"%d\" r=\"2\" fill=\"%s\" fill-opacity=\"0.6\"/>%n",
                                x(d, min, max),
                                y,
                                c));
            }
        }
        s.append(
                String.format(
                        Locale.ROOT,
                        "<text x=\"10\" y=\"%d\" fill=\"#555\">box p25–p75, thick line p50, whiskers p5–p95, dots: every preemption</text>%n",
                        height - 12));
        s.append("</svg>\n");
        if (file.getParent() != null) {
            Files.createDirectories(file.getParent());
        }
        Files.writeString(file, s.toString());
    }

    private static double x(double v, double min, double max) {
        return LEFT
                + (WIDTH - LEFT)
                        * (Math.log10(v) - Math.log10(min))
                        / (Math.log10(max) - Math.log10(min));
    }

    private static String esc(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;");
    }
}
