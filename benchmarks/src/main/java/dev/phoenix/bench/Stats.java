package dev.phoenix.bench;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Locale;

/** Order statistics of a sample (nearest-rank percentiles), in whatever unit the values carry. */
public record Stats(int n, double p50, double p95, double max, double min, double mean) {

    public static Stats of(Collection<? extends Number> values) {
        List<Double> v = new ArrayList<>();
        for (Number x : values) {
            if (x != null && !Double.isNaN(x.doubleValue())) {
                v.add(x.doubleValue());
            }
        }
        if (v.isEmpty()) {
            return new Stats(0, Double.NaN, Double.NaN, Double.NaN, Double.NaN, Double.NaN);
        }
        v.sort(Double::compare);
        double sum = 0;
        for (double x : v) {
            sum += x;
        }
        return new Stats(
                v.size(),
                percentile(v, 50),
                percentile(v, 95),
                v.get(v.size() - 1),
                v.get(0),
                sum / v.size());
    }

    /**
     * Nearest-rank percentile of an ascending list: the smallest value with at least p% of the
     * sample at or below it.
     */
    public static double percentile(List<Double> sorted, double p) {
        int rank = (int) Math.ceil(p / 100.0 * sorted.size());
        return sorted.get(Math.max(0, Math.min(sorted.size() - 1, rank - 1)));
    }

    /** "p50 / p95 / max" with the given format for each value. */
    public String summary(String fmt) {
        if (n == 0) {
            return "n/a";
        }
        return String.format(Locale.ROOT, fmt + " / " + fmt + " / " + fmt, p50, p95, max);
    }

    public static String ms(double v) {
        return Double.isNaN(v) ? "n/a" : String.format(Locale.ROOT, "%.0f ms", v);
    }

    /** A ratio as "12.3×", n/a when undefined. */
    public static String ratio(double value, double baseline) {
        if (Double.isNaN(value) || Double.isNaN(baseline) || baseline == 0) {
            return "n/a";
        }
        double r = value / baseline;
        return String.format(Locale.ROOT, r >= 10 ? "%.0f×" : "%.2f×", r);
    }

    public static String pct(double part, double whole) {
        if (Double.isNaN(part) || Double.isNaN(whole) || whole == 0) {
            return "n/a";
        }
        return String.format(Locale.ROOT, "%.0f%%", 100 * part / whole);
    }
}
