package dev.phoenix.local.controlplane.junit;

import dev.phoenix.local.controlplane.ControlPlane;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolutionException;
import org.junit.jupiter.api.extension.ParameterResolver;
import org.junit.platform.commons.support.AnnotationSupport;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Shares ONE {@link ControlPlane} per JVM and option set between all test classes annotated {@link
 * WithControlPlane} (or extended with this class directly: then scheduler and controller manager
 * are on). Started lazily by the first class that needs it, stopped by the control plane's JVM
 * shutdown hook. A control plane that failed to start is not retried: every later class fails fast
 * with the same error.
 *
 * <p>Resolves parameters of type {@link ControlPlane}, {@link KubernetesClient} (shared admin
 * client) and {@link TestNamespace} (fresh namespace per test method, deleted afterwards).
 */
public class ControlPlaneExtension implements BeforeAllCallback, ParameterResolver {
    private static final Logger LOG = LoggerFactory.getLogger(ControlPlaneExtension.class);
    private static final ExtensionContext.Namespace NS =
            ExtensionContext.Namespace.create(ControlPlaneExtension.class);
    private static final Map<Options, CompletableFuture<ControlPlane>> SHARED =
            new ConcurrentHashMap<>();

    /** The option set that identifies one shared instance. */
    public record Options(
            boolean scheduler, boolean controllerManager, int defaultTolerationSeconds) {
        static final Options DEFAULT = new Options(true, true, -1);

        static Options of(WithControlPlane a) {
            return new Options(a.scheduler(), a.controllerManager(), a.defaultTolerationSeconds());
        }
    }

    /** The JVM-wide control plane for these options, started on first use. */
    public static ControlPlane shared(Options options) {
        CompletableFuture<ControlPlane> mine = new CompletableFuture<>();
        CompletableFuture<ControlPlane> existing = SHARED.putIfAbsent(options, mine);
        if (existing == null) {
            try {
                LOG.info("starting shared control plane {}", options);
                ControlPlane.Builder b =
                        ControlPlane.builder()
                                .withScheduler(options.scheduler())
                                .withControllerManager(options.controllerManager());
                if (options.defaultTolerationSeconds() >= 0) {
                    b.defaultNotReadyTolerationSeconds(options.defaultTolerationSeconds())
                            .defaultUnreachableTolerationSeconds(
                                    options.defaultTolerationSeconds());
                }
                mine.complete(b.build().start());
            } catch (Throwable t) {
                mine.completeExceptionally(t);
            }
            existing = mine;
        }
        try {
            return existing.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(
                    "interrupted while waiting for the shared control plane", e);
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof RuntimeException re) {
                throw re;
            }
            throw new IllegalStateException("shared control plane failed to start", cause);
        }
    }

    /** The shared control plane for the test class of {@code context}. */
    public static ControlPlane controlPlane(ExtensionContext context) {
        return shared(optionsFor(context));
    }

    static Options optionsFor(ExtensionContext context) {
        Optional<Class<?>> c = context.getTestClass();
        while (c.isPresent()) {
            Optional<WithControlPlane> a =
                    AnnotationSupport.findAnnotation(c.get(), WithControlPlane.class);
            if (a.isPresent()) {
                return Options.of(a.get());
            }
            c = Optional.ofNullable(c.get().getEnclosingClass()); // @Nested
        }
        return Options.DEFAULT;
    }

    @Override
    public void beforeAll(ExtensionContext context) {
        controlPlane(context);
    }

    @Override
    public boolean supportsParameter(ParameterContext pc, ExtensionContext ec) {
        Class<?> t = pc.getParameter().getType();
        return t == ControlPlane.class || t == KubernetesClient.class || t == TestNamespace.class;
    }

    @Override
    public Object resolveParameter(ParameterContext pc, ExtensionContext ec) {
        Class<?> t = pc.getParameter().getType();
        ControlPlane cp = controlPlane(ec);
        if (t == ControlPlane.class) {
            return cp;
        }
        if (t == KubernetesClient.class) {
            return cp.adminClient();
        }
        if (t == TestNamespace.class) {
            // one namespace per extension context (test method, or class for
            // @BeforeAll/constructor)
            return ec.getStore(NS)
                    .getOrComputeIfAbsent(
                            "namespace",
                            k -> new NamespaceResource(cp, cp.createNamespace(prefix(ec))),
                            NamespaceResource.class)
                    .namespace;
        }
        throw new ParameterResolutionException("unsupported parameter " + pc.getParameter());
    }

    private static String prefix(ExtensionContext ec) {
        return ec.getTestMethod()
                .map(m -> m.getName())
                .orElseGet(() -> ec.getTestClass().map(Class::getSimpleName).orElse("test"));
    }

    /** Deletes the namespace when its extension context closes. */
    private static final class NamespaceResource
            implements ExtensionContext.Store.CloseableResource {
        private final ControlPlane cp;
        private final TestNamespace namespace;

        NamespaceResource(ControlPlane cp, String name) {
            this.cp = cp;
            this.namespace = new TestNamespace(name);
        }

        @Override
        public void close() {
            try {
                if (cp.isRunning()) {
                    cp.adminClient().namespaces().withName(namespace.name()).delete();
                }
            } catch (RuntimeException e) {
                LOG.warn("cannot delete test namespace {}: {}", namespace.name(), e.toString());
            }
        }
    }
}
