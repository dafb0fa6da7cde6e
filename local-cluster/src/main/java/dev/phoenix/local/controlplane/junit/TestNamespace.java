package dev.phoenix.local.controlplane.junit;

/** A namespace created for one test method (random name), deleted after it. */
public record TestNamespace(String name) {
    @Override
    public String toString() {
        return name;
    }
}
