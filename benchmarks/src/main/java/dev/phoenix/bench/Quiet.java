package dev.phoenix.bench;

/** The benchmarks' own logging set-up (warnings only), chosen before any logger exists. */
public final class Quiet {
    private Quiet() {}

    public static void logging() {
        if (System.getProperty("logback.configurationFile") == null) {
            System.setProperty("logback.configurationFile", "phoenix-bench-logback.xml");
        }
        if (System.getProperty("logback.statusListenerClass") == null) {
            System.setProperty(
                    "logback.statusListenerClass", "ch.qos.logback.core.status.NopStatusListener");
        }
    }
}
