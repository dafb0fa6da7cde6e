package dev.phoenix.api.crd;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLGenerator;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * Completes the CRD that Fabric8's generator writes from the Java model with what annotations
 * cannot express: constraints inside the embedded PodTemplateSpec (every container needs a name and
 * an image, a template needs containers) and the printer-column order a person reads in {@code
 * kubectl get tj} (the generator sorts columns by name).
 */
public final class CrdPostProcessor {
    static final Path GENERATED =
            Path.of("target/classes/META-INF/fabric8/trainingjobs.phoenix.dev-v1.yml");
    static final Path COMMITTED = Path.of("../crds/trainingjobs.phoenix.dev-v1.yml");
    private static final List<String> COLUMN_ORDER =
            List.of("Phase", "Step", "Checkpoint", "Restarts", "Preemptions", "Failures", "Age");

    private static final ObjectMapper YAML =
            new ObjectMapper(
                    new YAMLFactory()
                            .disable(YAMLGenerator.Feature.WRITE_DOC_START_MARKER)
                            .enable(YAMLGenerator.Feature.MINIMIZE_QUOTES)
                            .enable(YAMLGenerator.Feature.INDENT_ARRAYS_WITH_INDICATOR));

    private CrdPostProcessor() {}

    public static String process(String generatedYaml) throws IOException {
        ObjectNode crd = (ObjectNode) YAML.readTree(generatedYaml);
        for (JsonNode version : crd.path("spec").path("versions")) {
            orderPrinterColumns((ObjectNode) version);
            ObjectNode root = (ObjectNode) version.path("schema").path("openAPIV3Schema");
            require(root, "spec");
            ObjectNode podSpec =
                    (ObjectNode)
                            root.path("properties")
                                    .path("spec")
                                    .path("properties")
                                    .path("template")
                                    .path("properties")
                                    .path("spec");
            require(podSpec, "containers");
            ((ObjectNode) podSpec.path("properties").path("containers")).put("minItems", 1);
            require(
                    (ObjectNode) podSpec.path("properties").path("containers").path("items"),
                    "name",
                    "image");
            ((ObjectNode)
                            podSpec.path("properties")
                                    .path("containers")
                                    .path("items")
                                    .path("properties")
                                    .path("image"))
                    .put("minLength", 1);
        }
        return "# Generated from the Java model in api/ by Fabric8's CRD generator and CrdPostProcessor.\n"
                + "# Do not edit: run `mvn -pl api test -Dphoenix.updateCrd=true` to regenerate.\n"
                + YAML.writeValueAsString(crd);
    }

    private static void orderPrinterColumns(ObjectNode version) {
        ArrayNode columns = (ArrayNode) version.get("additionalPrinterColumns");
        List<JsonNode> sorted = new ArrayList<>();
        columns.forEach(sorted::add);
        sorted.sort(
                Comparator.comparingInt(
                        c -> {
                            int i = COLUMN_ORDER.indexOf(c.path("name").asText());
                            return i < 0 ? COLUMN_ORDER.size() : i;
                        }));
        columns.removeAll();
        sorted.forEach(columns::add);
    }

    private static void require(ObjectNode schema, String... fields) {
        if (schema.isMissingNode() || schema.get("properties") == null) {
            throw new IllegalStateException(
                    "generated schema lacks the object to constrain: " + schema);
        }
        ArrayNode required =
                schema.has("required")
                        ? (ArrayNode) schema.get("required")
                        : schema.putArray("required");
        for (String f : fields) {
            boolean present = false;
            for (JsonNode r : required) present |= r.asText().equals(f);
            if (!present) required.add(f);
        }
    }

    /**
     * Writes the processed CRD into crds/ (used by the update switch of {@link
     * CrdIsCommittedTest}).
     */
    static void writeCommitted(String content) throws IOException {
        Files.createDirectories(COMMITTED.getParent());
        Files.writeString(COMMITTED, content);
    }
}
