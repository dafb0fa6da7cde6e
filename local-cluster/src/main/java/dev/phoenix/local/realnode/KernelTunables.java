package dev.phoenix.local.realnode;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The kernel tunables a kubelet sets at start (pkg/kubelet/cm setupKernelTunables:
 * vm.overcommit_memory=1, kernel.panic=10, kernel.panic_on_oops=1, …). They are machine-wide, so
 * the values from before the first node started are saved in the {@link HostRegistry} and written
 * back when the last node is gone.
 */
final class KernelTunables {
    static final List<String> NAMES =
            List.of(
                    "vm/overcommit_memory",
                    "vm/panic_on_oom",
                    "kernel/panic",
                    "kernel/panic_on_oops",
                    "kernel/keys/root_maxkeys",
                    "kernel/keys/root_maxbytes");

    private KernelTunables() {}

    /**
     * Call under the registry lock before a kubelet starts: saves the current values unless saved
     * already.
     */
    static void saveIfFirst(HostRegistry registry) throws IOException {
        if (!registry.savedSysctls().isEmpty()) {
            return;
        }
        Map<String, String> now = new LinkedHashMap<>();
        for (String n : NAMES) {
            Path f = Path.of("/proc/sys").resolve(n);
            if (Files.isReadable(f)) {
                now.put(n, Commands.readKernelFile(f));
            }
        }
        registry.saveSysctls(now);
    }

    /**
     * Call under the registry lock once no node of this machine runs any more: restores the saved
     * values.
     */
    static void restore(HostRegistry registry) throws IOException {
        for (Map.Entry<String, String> e : registry.savedSysctls().entrySet()) {
            Path f = Path.of("/proc/sys").resolve(e.getKey());
            if (!Commands.readKernelFile(f).equals(e.getValue())) {
                Files.writeString(f, e.getValue());
            }
        }
        registry.dropSavedSysctls();
    }
}
