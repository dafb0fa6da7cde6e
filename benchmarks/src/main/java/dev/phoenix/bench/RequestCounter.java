package dev.phoenix.bench;

import io.fabric8.kubernetes.client.http.BasicBuilder;
import io.fabric8.kubernetes.client.http.HttpRequest;
import io.fabric8.kubernetes.client.http.Interceptor;
import java.net.URI;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;

/**
 * Counts every HTTP request a Fabric8 client sends, by Kubernetes verb and resource (as the API
 * server's {@code apiserver_request_total} labels them: get, list, watch, create, update, patch,
 * delete), through the client's interceptor chain. Retries count as requests: they are.
 */
public final class RequestCounter implements Interceptor {
    private final Map<String, LongAdder> counts = new ConcurrentHashMap<>();

    @Override
    public void before(BasicBuilder builder, HttpRequest request, RequestTags tags) {
        counts.computeIfAbsent(key(request.method(), request.uri()), k -> new LongAdder())
                .increment();
    }

    /** A snapshot: "verb resource[/subresource]" → count. */
    public Map<String, Long> snapshot() {
        Map<String, Long> m = new TreeMap<>();
        counts.forEach((k, v) -> m.put(k, v.sum()));
        return m;
    }

    public static Map<String, Long> minus(Map<String, Long> after, Map<String, Long> before) {
        Map<String, Long> d = new TreeMap<>();
        after.forEach(
                (k, v) -> {
                    long x = v - before.getOrDefault(k, 0L);
                    if (x != 0) {
                        d.put(k, x);
                    }
                });
        return d;
    }

    public static long total(Map<String, Long> m) {
        return m.values().stream().mapToLong(Long::longValue).sum();
    }

    /**
     * "verb resource" of a request, e.g. "create pods", "update trainingjobs/status", "watch pods".
     */
    static String key(String method, URI uri) {
        String path = uri.getPath() == null ? "" : uri.getPath();
        String query = uri.getRawQuery() == null ? "" : uri.getRawQuery();
        String[] seg = path.replaceAll("^/+|/+$", "").split("/");
        // /api/v1/... or /apis/<group>/<version>/...
        int i;
        if (seg.length > 0 && seg[0].equals("api")) {
            i = 2;
        } else if (seg.length > 0 && seg[0].equals("apis")) {
            i = 3;
        } else {
            return method + " " + path;
        }
        if (i < seg.length && seg[i].equals("namespaces") && i + 2 < seg.length) {
            i += 2; // namespaced resource
        }
        if (i >= seg.length) {
            return method + " " + path;
        }
        String resource = seg[i];
        boolean named = i + 1 < seg.length;
        String sub = i + 2 < seg.length ? "/" + seg[i + 2] : "";
        String verb =
                switch (method) {
                    case "GET" ->
                            query.contains("watch=true") || query.contains("watch=1")
                                    ? "watch"
                                    : named ? "get" : "list";
                    case "POST" -> "create";
                    case "PUT" -> "update";
                    case "PATCH" -> "patch";
                    case "DELETE" -> named ? "delete" : "deletecollection";
                    default -> method.toLowerCase();
                };
        return verb + " " + resource + sub;
    }
}
