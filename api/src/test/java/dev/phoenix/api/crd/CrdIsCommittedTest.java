package dev.phoenix.api.crd;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import org.junit.jupiter.api.Test;

/**
 * The CRD in crds/ is what users and the tests apply; it must be exactly what the build generates
 * from the Java model, or the schema users get drifts from the code that reads it.
 */
class CrdIsCommittedTest {
    @Test
    void committedCrdMatchesTheModel() throws Exception {
        String expected = CrdPostProcessor.process(Files.readString(CrdPostProcessor.GENERATED));
        if (Boolean.getBoolean("phoenix.updateCrd")) {
            CrdPostProcessor.writeCommitted(expected);
        }
        assertThat(Files.exists(CrdPostProcessor.COMMITTED))
                .as(
                        "crds/trainingjobs.phoenix.dev-v1.yml is missing; run `mvn -pl api test -Dphoenix.updateCrd=true`")
                .isTrue();
        assertThat(Files.readString(CrdPostProcessor.COMMITTED))
                .as(
                        "crds/trainingjobs.phoenix.dev-v1.yml is stale; run `mvn -pl api test -Dphoenix.updateCrd=true` and commit it")
                .isEqualTo(expected);
    }

    @Test
    void processedCrdRequiresContainerImagesAndOrdersColumns() throws Exception {
        String crd = CrdPostProcessor.process(Files.readString(CrdPostProcessor.GENERATED));
        var tree =
                new com.fasterxml.jackson.databind.ObjectMapper(
                                new com.fasterxml.jackson.dataformat.yaml.YAMLFactory())
                        .readTree(crd);
        var version = tree.path("spec").path("versions").get(0);
        assertThat(version.path("additionalPrinterColumns").get(0).path("name").asText())
                .isEqualTo("Phase");
        assertThat(version.path("additionalPrinterColumns").get(6).path("name").asText())
                .isEqualTo("Age");
        var items =
                version.path("schema")
                        .path("openAPIV3Schema")
                        .path("properties")
                        .path("spec")
                        .path("properties")
                        .path("template")
                        .path("properties")
                        .path("spec")
                        .path("properties")
                        .path("containers")
                        .path("items");
        assertThat(items.path("required").toString()).contains("\"image\"").contains("\"name\"");
    }
}
