package dev.phoenix.local.controlplane.junit;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Inherited;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Runs the test class against a real Kubernetes control plane (the pinned release) shared by every
 * test class of this JVM that asks for the same options (started lazily, stopped when the JVM's
 * test run ends).
 *
 * <p>Injectable parameters (constructor, lifecycle and test methods): {@link
 * dev.phoenix.local.controlplane.ControlPlane}, {@link
 * io.fabric8.kubernetes.client.KubernetesClient} (the shared admin client; do not close it) and
 * {@link TestNamespace} (a fresh random namespace per test method, deleted afterwards).
 */
@Target({ElementType.TYPE})
@Retention(RetentionPolicy.RUNTIME)
@Documented
@Inherited
@ExtendWith(ControlPlaneExtension.class)
public @interface WithControlPlane {
    /** Start kube-scheduler. */
    boolean scheduler() default true;

    /** Start kube-controller-manager (without it ServiceAccount admission is off). */
    boolean controllerManager() default true;

    /**
     * tolerationSeconds for the default not-ready/unreachable tolerations added to pods, -1 for
     * Kubernetes' default (300). Control planes with different values are different instances.
     */
    int defaultTolerationSeconds() default -1;
}
