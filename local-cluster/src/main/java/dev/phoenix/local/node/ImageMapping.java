package dev.phoenix.local.node;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Maps container images to local commands (see {@code images.yaml} on the classpath for the format).
 *
 * <p>Resolution rule for a container of a <em>mapped</em> image (Docker/Kubernetes semantics, with the
 * mapping playing the image's ENTRYPOINT/CMD):
 * <ul>
 *   <li>no {@code command}: {@code entrypoint} + ({@code args} of the container, else the mapping's {@code args});</li>
 *   <li>{@code command} given and {@code command[0]} is a key of the mapping's {@code programs}: that prefix
 *       replaces {@code command[0]}, the rest of {@code command} and then the container's {@code args} follow;</li>
 *   <li>{@code command} given otherwise: it replaces the entrypoint and runs as a host program
 *       ({@code command} + {@code args}), exactly as it would replace an image's ENTRYPOINT.</li>
 * </ul>
 * An unmapped image runs {@code command} + {@code args} as a host command; without a command it cannot run.
 */
public final class ImageMapping {

    /** One mapped image. */
    public record Entry(List<String> entrypoint, List<String> args, Map<String, List<String>> programs,
                        Map<String, String> env) {
    }

    /** The resolved local command of a container. */
    public record Resolved(List<String> command, Map<String, String> imageEnv, boolean mapped) {
    }

    private static final Pattern VAR = Pattern.compile("\\$\\{([A-Za-z_][A-Za-z0-9_.]*)(:-([^}]*))?}");
    private static final Pattern WORDS = Pattern.compile("\\$\\{\\*([A-Za-z_][A-Za-z0-9_.]*)}");

    private final Map<String, Entry> entries;

    public ImageMapping(Map<String, Entry> entries) {
        this.entries = Map.copyOf(entries);
    }

    public Map<String, Entry> entries() {
        return entries;
    }

    /** The default mapping: {@code images.yaml} from the classpath. */
    public static ImageMapping defaults() {
        try (InputStream in = ImageMapping.class.getClassLoader().getResourceAsStream("images.yaml")) {
            if (in == null) {
                return new ImageMapping(Map.of());
            }
            return parse(in.readAllBytes());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static ImageMapping load(Path file) {
        try {
            return parse(Files.readAllBytes(file));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** This mapping with {@code other}'s entries added (other wins). */
    public ImageMapping with(ImageMapping other) {
        Map<String, Entry> m = new LinkedHashMap<>(entries);
        m.putAll(other.entries);
        return new ImageMapping(m);
    }

    public ImageMapping with(String repository, List<String> entrypoint) {
        Map<String, Entry> m = new LinkedHashMap<>(entries);
        m.put(repository, new Entry(List.copyOf(entrypoint), List.of(), Map.of(), Map.of()));
        return new ImageMapping(m);
    }

    static ImageMapping parse(byte[] yaml) throws IOException {
        JsonNode root = new ObjectMapper(new YAMLFactory()).readTree(yaml);
        Map<String, Entry> m = new LinkedHashMap<>();
        JsonNode images = root == null ? null : root.get("images");
        if (images != null) {
            for (Iterator<Map.Entry<String, JsonNode>> it = images.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                JsonNode n = e.getValue();
                Map<String, List<String>> programs = new LinkedHashMap<>();
                if (n.has("programs")) {
                    n.get("programs").fields().forEachRemaining(p -> programs.put(p.getKey(), strings(p.getValue())));
                }
                Map<String, String> env = new LinkedHashMap<>();
                if (n.has("env")) {
                    n.get("env").fields().forEachRemaining(p -> env.put(p.getKey(), p.getValue().asText()));
                }
                m.put(e.getKey(), new Entry(strings(n.get("entrypoint")), strings(n.get("args")), programs, env));
            }
        }
        return new ImageMapping(m);
    }

    private static List<String> strings(JsonNode n) {
        List<String> out = new ArrayList<>();
        if (n != null && n.isArray()) {
            n.forEach(x -> out.add(x.asText()));
        }
        return out;
    }

    /** Image reference without tag and digest: {@code reg:5000/a/b:tag@sha256:..} gives {@code reg:5000/a/b}. */
    public static String repository(String image) {
        String s = image;
        int at = s.indexOf('@');
        if (at >= 0) {
            s = s.substring(0, at);
        }
        int slash = s.lastIndexOf('/');
        int colon = s.lastIndexOf(':');
        if (colon > slash) {
            s = s.substring(0, colon);
        }
        return s;
    }

    public Entry find(String image) {
        if (image == null) {
            return null;
        }
        String repo = repository(image);
        Entry e = entries.get(repo);
        if (e != null) {
            return e;
        }
        for (Map.Entry<String, Entry> x : entries.entrySet()) {
            if (repo.endsWith("/" + x.getKey())) {
                return x.getValue();
            }
        }
        // docker.io/library/foo and library/foo match foo
        return null;
    }

    /**
     * Resolves the container's local command. {@code command}/{@code args} must already have had their
     * {@code $(VAR)} references expanded.
     */
    public Resolved resolve(String image, List<String> command, List<String> args, Function<String, String> vars) {
        Entry e = find(image);
        List<String> cmd = command == null ? List.of() : command;
        List<String> arg = args == null ? List.of() : args;
        List<String> out = new ArrayList<>();
        if (e == null) {
            if (cmd.isEmpty()) {
                throw new IllegalArgumentException("image " + image + " has no local mapping (images.yaml) and the container has no command");
            }
            out.addAll(cmd);
            out.addAll(arg);
            return new Resolved(out, Map.of(), false);
        }
        if (cmd.isEmpty()) {
            out.addAll(expand(e.entrypoint(), vars));
            out.addAll(arg.isEmpty() ? expand(e.args(), vars) : arg);
        } else if (e.programs().containsKey(cmd.get(0))) {
            out.addAll(expand(e.programs().get(cmd.get(0)), vars));
            out.addAll(cmd.subList(1, cmd.size()));
            out.addAll(arg);
        } else {
            out.addAll(cmd);
            out.addAll(arg);
        }
        if (out.isEmpty()) {
            throw new IllegalArgumentException("image " + image + ": empty command");
        }
        Map<String, String> env = new LinkedHashMap<>();
        e.env().forEach((k, v) -> env.put(k, expand(v, vars)));
        return new Resolved(out, env, true);
    }

    static List<String> expand(List<String> in, Function<String, String> vars) {
        List<String> out = new ArrayList<>();
        for (String s : in) {
            Matcher w = WORDS.matcher(s);
            if (w.matches()) {
                String v = vars.apply(w.group(1));
                if (v != null && !v.isBlank()) {
                    for (String word : v.trim().split("\\s+")) {
                        out.add(word);
                    }
                }
                continue;
            }
            out.add(expand(s, vars));
        }
        return out;
    }

    static String expand(String s, Function<String, String> vars) {
        Matcher m = VAR.matcher(s);
        StringBuilder sb = new StringBuilder();
        while (m.find()) {
            String v = vars.apply(m.group(1));
            if (v == null) {
                if (m.group(2) == null) {
                    throw new IllegalArgumentException("variable ${" + m.group(1) + "} used by images.yaml is not set "
                            + "(set it as a system property, an environment variable of the agent, or LocalNode.Builder#variable)");
                }
                v = m.group(3);
            }
            m.appendReplacement(sb, Matcher.quoteReplacement(v));
        }
        m.appendTail(sb);
        return sb.toString();
    }
}
