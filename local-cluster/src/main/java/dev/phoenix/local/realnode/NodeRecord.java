package dev.phoenix.local.realnode;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import java.util.Optional;

/**
 * What one node (kind {@code node}), one pod network (kind {@code network}) or one cluster's
 * service proxy and DNS (kind {@code services}) changed outside its work dir, as {@link
 * HostRegistry} stores it: enough for a later run to undo it after a crash.
 *
 * @param ownerPid the JVM that owns it; {@code ownerStart} (its start time) guards against a reused
 *     pid
 * @param cgroupRoot the kubelet's cgroupRoot (nodes)
 * @param bridge the bridge interface (networks)
 * @param subnet the pod subnet (networks), so a concurrent start picks another one
 * @param binDir containerd and crictl (nodes), to tear pods down through the CRI after a crash
 */
@JsonIgnoreProperties(ignoreUnknown = true)
record NodeRecord(
        String id,
        String kind,
        long ownerPid,
        long ownerStart,
        String workDir,
        String cgroupRoot,
        String bridge,
        String subnet,
        String binDir) {

    static final String NODE = "node";
    static final String NETWORK = "network";

    /**
     * kube-proxy and CoreDNS of one cluster ({@link ClusterServices}); binDir holds kube-proxy for
     * its --cleanup.
     */
    static final String SERVICES = "services";

    static NodeRecord node(String id, String workDir, String cgroupRoot, String binDir) {
        return new NodeRecord(
                id, NODE, self().pid(), startOf(self()), workDir, cgroupRoot, null, null, binDir);
    }

    static NodeRecord network(String id, String workDir, String bridge, String subnet) {
        return new NodeRecord(
                id, NETWORK, self().pid(), startOf(self()), workDir, null, bridge, subnet, null);
    }

    static NodeRecord services(String id, String workDir, String binDir) {
        return new NodeRecord(
                id, SERVICES, self().pid(), startOf(self()), workDir, null, null, null, binDir);
    }

    boolean ownerAlive() {
        Optional<ProcessHandle> p = ProcessHandle.of(ownerPid);
        return p.isPresent() && p.get().isAlive() && startOf(p.get()) == ownerStart;
    }

    private static ProcessHandle self() {
        return ProcessHandle.current();
    }

    private static long startOf(ProcessHandle p) {
        return p.info().startInstant().map(i -> i.getEpochSecond()).orElse(0L);
    }
}
