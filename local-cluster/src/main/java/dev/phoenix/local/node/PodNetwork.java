package dev.phoenix.local.node;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Pod IPs (127.1.x.y; Linux routes all of 127/8 to lo) and the hosts files of the pods. One per JVM, so
 * that several local nodes in one test JVM neither collide nor miss each other's pods.
 */
final class PodNetwork {

    record Entry(String uid, String ip, String namespace, String hostname, String subdomain, Path hostsFile,
                 Map<String, List<String>> hostAliases) {
    }

    static final PodNetwork INSTANCE = new PodNetwork();

    private final Set<String> inUse = new HashSet<>();
    private int next = 0;
    private final Map<String, Entry> entries = new LinkedHashMap<>();

    /** Allocates the next free 127.1.x.y (round robin, so a freed IP is not reused soon). */
    synchronized String allocate() {
        for (int i = 0; i < 254 * 256; i++) {
            int n = next++ % (254 * 256);
            String ip = "127.1." + (n / 254) + "." + (n % 254 + 1);
            if (inUse.add(ip)) {
                return ip;
            }
        }
        throw new IllegalStateException("no free pod IP");
    }

    synchronized void release(String ip) {
        inUse.remove(ip);
    }

    /** Adds (or replaces) a running pod and rewrites every hosts file. */
    synchronized void register(Entry e) {
        entries.put(e.uid(), e);
        rewriteAll();
    }

    synchronized void unregister(String uid) {
        if (entries.remove(uid) != null) {
            rewriteAll();
        }
    }

    private void rewriteAll() {
        for (Entry e : entries.values()) {
            try {
                write(e);
            } catch (IOException ex) {
                // the pod dir may be gone; the next rewrite will tell again
            }
        }
    }

    /** Writes the hosts file in place (same inode: it is bind-mounted at /etc/hosts). */
    synchronized void write(Entry self) throws IOException {
        StringBuilder sb = new StringBuilder();
        sb.append("# Kubernetes-managed hosts file (Phoenix local node).\n");
        sb.append("127.0.0.1\tlocalhost\n");
        sb.append("::1\tlocalhost ip6-localhost ip6-loopback\n");
        sb.append(self.ip()).append('\t').append(String.join(" ", names(self, self))).append('\n');
        for (Entry o : entries.values()) {
            if (o.uid().equals(self.uid()) || o.subdomain() == null || o.subdomain().isEmpty()) {
                continue;
            }
            sb.append(o.ip()).append('\t').append(String.join(" ", names(o, self))).append('\n');
        }
        if (self.hostAliases() != null && !self.hostAliases().isEmpty()) {
            sb.append("\n# Entries added by HostAliases.\n");
            self.hostAliases().forEach((ip, names) -> sb.append(ip).append('\t').append(String.join("\t", names)).append('\n'));
        }
        Files.write(self.hostsFile(), sb.toString().getBytes(StandardCharsets.UTF_8),
                StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING);
    }

    private static List<String> names(Entry e, Entry viewer) {
        List<String> n = new ArrayList<>();
        if (e.subdomain() != null && !e.subdomain().isEmpty()) {
            String base = e.hostname() + "." + e.subdomain() + "." + e.namespace() + ".svc";
            n.add(base + ".cluster.local");
            n.add(base);
            if (e.namespace().equals(viewer.namespace())) {
                n.add(e.hostname() + "." + e.subdomain());
            }
            n.add(e.hostname() + "." + e.subdomain() + "." + e.namespace());
        }
        if (e == viewer) {
            n.add(e.hostname());
        }
        return n;
    }
}
