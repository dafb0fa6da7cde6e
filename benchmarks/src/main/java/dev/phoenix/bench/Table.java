package dev.phoenix.bench;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/** A Markdown table, printed as it will appear in docs/benchmarks.md. */
public final class Table {
    private final String title;
    private final String[] header;
    private final List<String[]> rows = new ArrayList<>();
    private final List<String> notes = new ArrayList<>();

    public Table(String title, String... header) {
        this.title = title;
        this.header = header;
    }

    public Table row(Object... cells) {
        if (cells.length != header.length) {
            throw new IllegalArgumentException(
                    "row has "
                            + cells.length
                            + " cells, header "
                            + header.length
                            + ": "
                            + Arrays.toString(cells));
        }
        rows.add(
                Arrays.stream(cells)
                        .map(c -> c == null ? "" : String.valueOf(c).replace("|", "\\|"))
                        .toArray(String[]::new));
        return this;
    }

    public Table note(String note) {
        notes.add(note);
        return this;
    }

    public int size() {
        return rows.size();
    }

    public String markdown() {
        StringBuilder b = new StringBuilder();
        b.append("#### ").append(title).append("\n\n");
        b.append("| ").append(String.join(" | ", header)).append(" |\n");
        b.append("|").append(" --- |".repeat(header.length)).append("\n");
        for (String[] r : rows) {
            b.append("| ").append(String.join(" | ", r)).append(" |\n");
        }
        for (String n : notes) {
            b.append("\n").append(n).append("\n");
        }
        return b.toString();
    }

    /**
     * Prints the table to stdout (and appends it to $PHOENIX_BENCH_OUT if set, for hack/bench.sh).
     */
    public void print() {
        String md = markdown();
        System.out.println();
        System.out.println(md);
        System.out.flush();
        String out = System.getenv("PHOENIX_BENCH_OUT");
        if (out != null && !out.isBlank()) {
            try {
                java.nio.file.Files.writeString(
                        java.nio.file.Path.of(out),
                        md + "\n",
                        java.nio.file.StandardOpenOption.CREATE,
                        java.nio.file.StandardOpenOption.APPEND);
            } catch (java.io.IOException e) {
                System.err.println("cannot append to " + out + ": " + e);
            }
        }
    }
}
