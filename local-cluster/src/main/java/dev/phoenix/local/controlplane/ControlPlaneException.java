package dev.phoenix.local.controlplane;

/** A control plane component failed to start or answer; the message carries its log tail. */
public class ControlPlaneException extends RuntimeException {
    public ControlPlaneException(String message) {
        super(message);
    }

    public ControlPlaneException(String message, Throwable cause) {
        super(message, cause);
    }
}
