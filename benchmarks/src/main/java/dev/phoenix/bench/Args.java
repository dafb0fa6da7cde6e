package dev.phoenix.bench;

import java.util.HashMap;
import java.util.Map;

/** {@code --name value} and {@code --flag} arguments. */
public final class Args {
    private Args() {}

    public static Map<String, String> parse(String[] args) {
        Map<String, String> m = new HashMap<>();
        for (int i = 0; i < args.length; i++) {
            if (!args[i].startsWith("--")) {
                throw new IllegalArgumentException("unexpected argument " + args[i]);
            }
            String k = args[i].substring(2);
            int eq = k.indexOf('=');
            if (eq >= 0) {
                m.put(k.substring(0, eq), k.substring(eq + 1));
            } else if (i + 1 < args.length && !args[i + 1].startsWith("--")) {
                m.put(k, args[++i]);
            } else {
                m.put(k, "true");
            }
        }
        return m;
    }

    public static int integer(Map<String, String> m, String k, int dflt) {
        return m.containsKey(k) ? Integer.parseInt(m.get(k)) : dflt;
    }

    public static String string(Map<String, String> m, String k, String dflt) {
        return m.getOrDefault(k, dflt);
    }
}
