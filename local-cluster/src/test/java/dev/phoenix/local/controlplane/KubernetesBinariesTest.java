package dev.phoenix.local.controlplane;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import org.junit.jupiter.api.Test;

/** The Java side and the provisioning script agree on the pinned release. */
class KubernetesBinariesTest {
    @Test
    void pinnedVersionMatchesTheProvisioningScriptAndItsBuildModule() throws Exception {
        Path script = KubernetesBinaries.findScript(Paths.get("").toAbsolutePath());
        assertThat(script).isNotNull();
        assertThat(Files.readAllLines(script))
                .contains("PINNED_K8S_VERSION=" + KubernetesBinaries.PINNED_VERSION);
        Path goMod = script.getParent().resolve("gobuild/kubernetes/go.mod");
        assertThat(Files.readString(goMod))
                .contains("require k8s.io/kubernetes v" + KubernetesBinaries.PINNED_VERSION)
                .contains(
                        "k8s.io/api => k8s.io/api v0."
                                + KubernetesBinaries.PINNED_VERSION.substring(2));
    }
}
