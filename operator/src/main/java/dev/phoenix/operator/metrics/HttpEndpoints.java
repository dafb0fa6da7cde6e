package dev.phoenix.operator.metrics;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.Executors;
import java.util.function.BooleanSupplier;

/**
 * /healthz (the process and its informers are alive), /readyz (started and, with leader election,
 * either leading or ready to take over) and /metrics (Prometheus text format). The JDK's HTTP
 * server is enough for three GETs and adds no dependency.
 */
public final class HttpEndpoints implements AutoCloseable {
    private final HttpServer server;

    public HttpEndpoints(
            int port,
            BooleanSupplier healthy,
            BooleanSupplier ready,
            PrometheusMeterRegistry registry)
            throws IOException {
        server = HttpServer.create(new InetSocketAddress(port), 0);
        server.createContext(
                "/healthz",
                ex ->
                        respond(
                                ex,
                                healthy.getAsBoolean() ? 200 : 503,
                                healthy.getAsBoolean() ? "ok" : "informers unhealthy",
                                "text/plain"));
        server.createContext(
                "/readyz",
                ex ->
                        respond(
                                ex,
                                ready.getAsBoolean() ? 200 : 503,
                                ready.getAsBoolean() ? "ok" : "not started",
                                "text/plain"));
        server.createContext(
                "/metrics",
                ex ->
                        respond(
                                ex,
                                200,
                                registry.scrape(),
                                "text/plain; version=0.0.4; charset=utf-8"));
        server.setExecutor(
                Executors.newSingleThreadExecutor(
                        r -> {
                            Thread t = new Thread(r, "phoenix-http");
                            t.setDaemon(true);
                            return t;
                        }));
        server.start();
    }

    public int port() {
        return server.getAddress().getPort();
    }

    private static void respond(HttpExchange ex, int code, String body, String type)
            throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", type);
        ex.sendResponseHeaders(code, bytes.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(bytes);
        }
    }

    @Override
    public void close() {
        server.stop(0);
    }
}
