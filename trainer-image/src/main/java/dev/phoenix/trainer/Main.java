package dev.phoenix.trainer;

import dev.phoenix.trainer.checkpoint.Json;
import dev.phoenix.trainer.config.TrainerConfig;
import dev.phoenix.trainer.report.Reports;
import java.util.Map;
import picocli.CommandLine;

/** Entry point: {@code java -cp phoenix-trainer.jar:lib/* dev.phoenix.trainer.Main [flags]}. */
public final class Main {
    private Main() {}

    public static void main(String[] args) {
        int code = run(System.getenv(), args);
        System.out.flush();
        System.exit(code);
    }

    static int run(Map<String, String> env, String... args) {
        return run(true, env, args);
    }

    /**
     * Runs without {@code System.exit}; tests call it in-process with {@code installSignals =
     * false}.
     */
    static int run(boolean installSignals, Map<String, String> env, String... args) {
        // First thing: a SIGTERM from here on is recorded and honoured at the next safe point
        // (during
        // rendezvous, before the first step, or after the current step), never lost or ignored.
        StopSignal stop = new StopSignal();
        if (installSignals) {
            stop.install();
        }
        TrainerConfig cfg = new TrainerConfig();
        CommandLine cl = TrainerConfig.commandLine(cfg, env);
        try {
            cl.parseArgs(args);
            if (cl.isUsageHelpRequested()) {
                cl.usage(System.out);
                return ExitCodes.SUCCEEDED;
            }
            if (cl.isVersionHelpRequested()) {
                cl.printVersionHelp(System.out);
                return ExitCodes.SUCCEEDED;
            }
            cfg.validate();
        } catch (CommandLine.ParameterException | IllegalArgumentException e) {
            System.err.println("phoenix-trainer: " + e.getMessage());
            cl.usage(System.err);
            if (cfg.terminationLog != null) {
                TerminationLog.write(
                        cfg.terminationLog,
                        Json.write(
                                new Reports.Termination(
                                        "Failed",
                                        null,
                                        null,
                                        null,
                                        "bad usage: " + e.getMessage())));
            }
            return ExitCodes.USAGE;
        }
        return new Trainer(cfg, stop).run();
    }
}
