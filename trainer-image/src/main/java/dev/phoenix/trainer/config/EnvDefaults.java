package dev.phoenix.trainer.config;

import java.util.List;
import java.util.Map;
import picocli.CommandLine;

/**
 * Default values of options from the environment: each option's {@code descriptionKey} names the
 * environment variables (comma separated, first set one wins) that provide its default. A flag
 * given on the command line always wins over the environment.
 */
final class EnvDefaults implements CommandLine.IDefaultValueProvider {
    private final Map<String, String> env;

    EnvDefaults(Map<String, String> env) {
        this.env = env;
    }

    @Override
    public String defaultValue(CommandLine.Model.ArgSpec argSpec) {
        if (!(argSpec instanceof CommandLine.Model.OptionSpec option)) {
            return null;
        }
        String key = option.descriptionKey();
        if (key == null || key.isEmpty()) {
            return null;
        }
        for (String var : List.of(key.split(","))) {
            String v = env.get(var.trim());
            if (v != null && !v.isBlank()) {
                return v.trim();
            }
        }
        return null; // falls back to the option's own defaultValue
    }
}
