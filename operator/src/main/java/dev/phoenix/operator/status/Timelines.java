package dev.phoenix.operator.status;

/**
 * Timeline ids are {@code t1}, {@code t2}, …: a new one begins whenever a gang resumes from a step
 * older than the newest checkpoint known, so checkpoints and reports of the abandoned line can
 * never be mistaken for the new one's.
 */
public final class Timelines {
    public static final String FIRST = "t1";

    private Timelines() {}

    public static String next(String current) {
        if (current == null || !current.matches("t\\d+")) {
            return FIRST;
        }
        return "t" + (Long.parseLong(current.substring(1)) + 1);
    }
}
