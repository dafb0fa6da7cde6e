package dev.phoenix.operator.config;

import java.util.Arrays;
import java.util.Set;
import java.util.stream.Collectors;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Operator settings: every flag has an environment variable (the Deployment sets those) and a
 * default that works in a cluster.
 */
@Command(
        name = "phoenix-operator",
        mixinStandardHelpOptions = true,
        description =
                "Runs TrainingJobs and brings them back after preemption from the latest valid checkpoint.")
public class OperatorConfig {
    @Option(
            names = "--namespaces",
            defaultValue = "${env:PHOENIX_NAMESPACES:-}",
            description =
                    "Comma-separated namespaces to watch; empty watches all (env PHOENIX_NAMESPACES).")
    String namespaces = "";

    @Option(
            names = "--http-port",
            defaultValue = "${env:PHOENIX_HTTP_PORT:-8080}",
            description =
                    "Port of /healthz, /readyz and /metrics; 0 picks a free one (env PHOENIX_HTTP_PORT).")
    int httpPort = 8080;

    @Option(
            names = "--leader-election",
            defaultValue = "${env:PHOENIX_LEADER_ELECTION:-true}",
            arity = "1",
            description =
                    "Run only while holding the Lease, so replicas never reconcile at once (env PHOENIX_LEADER_ELECTION).")
    boolean leaderElection = true;

    @Option(
            names = "--lease-name",
            defaultValue = "${env:PHOENIX_LEASE_NAME:-phoenix-operator-lock}",
            description = "Name of the leader-election Lease (env PHOENIX_LEASE_NAME).")
    String leaseName = "phoenix-operator-lock";

    @Option(
            names = "--lease-namespace",
            defaultValue = "${env:PHOENIX_LEASE_NAMESPACE:-}",
            description =
                    "Namespace of the Lease; defaults to the operator pod's own namespace (env PHOENIX_LEASE_NAMESPACE).")
    String leaseNamespace = "";

    @Option(
            names = "--exit-on-lost-leadership",
            defaultValue = "${env:PHOENIX_EXIT_ON_LOST_LEADERSHIP:-true}",
            arity = "1",
            description =
                    "Exit when the Lease is lost (the pod restarts as a standby); false stops "
                            + "reconciling instead, for an operator embedded in another program (env PHOENIX_EXIT_ON_LOST_LEADERSHIP).")
    boolean exitOnLostLeadership = true;

    @Option(
            names = "--watch-nodes",
            defaultValue = "${env:PHOENIX_WATCH_NODES:-true}",
            arity = "1",
            description =
                    "Watch Nodes so a vanished node counts as a preemption at once (env PHOENIX_WATCH_NODES).")
    boolean watchNodes = true;

    @Option(
            names = "--reconcile-threads",
            defaultValue = "${env:PHOENIX_RECONCILE_THREADS:-10}",
            description = "Jobs reconciled concurrently (env PHOENIX_RECONCILE_THREADS).")
    int reconcileThreads = 10;

    public Set<String> namespaceSet() {
        return Arrays.stream(namespaces.split(","))
                .map(String::strip)
                .filter(s -> !s.isEmpty())
                .collect(Collectors.toSet());
    }

    public int httpPort() {
        return httpPort;
    }

    public boolean leaderElection() {
        return leaderElection;
    }

    public String leaseName() {
        return leaseName;
    }

    public String leaseNamespace() {
        return leaseNamespace;
    }

    public boolean watchNodes() {
        return watchNodes;
    }

    public boolean exitOnLostLeadership() {
        return exitOnLostLeadership;
    }

    public int reconcileThreads() {
        return reconcileThreads;
    }

    public OperatorConfig withNamespaces(String csv) {
        this.namespaces = csv;
        return this;
    }

    public OperatorConfig withHttpPort(int port) {
        this.httpPort = port;
        return this;
    }

    public OperatorConfig withLeaderElection(boolean on) {
        this.leaderElection = on;
        return this;
    }

    public OperatorConfig withLeaseNamespace(String ns) {
        this.leaseNamespace = ns;
        return this;
    }

    public OperatorConfig withWatchNodes(boolean on) {
        this.watchNodes = on;
        return this;
    }

    public OperatorConfig withExitOnLostLeadership(boolean on) {
        this.exitOnLostLeadership = on;
        return this;
    }
}
