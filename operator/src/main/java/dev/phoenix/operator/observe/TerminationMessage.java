package dev.phoenix.operator.observe;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

/**
 * The trainer's termination messages and reports are JSON (docs/contract.md); anything else is
 * plain text.
 */
public final class TerminationMessage {
    private static final ObjectMapper JSON = new ObjectMapper();

    private TerminationMessage() {}

    /**
     * @return the parsed object, or null when the text is absent or not a JSON object
     */
    public static JsonNode parse(String text) {
        if (text == null || text.isBlank()) {
            return null;
        }
        try {
            JsonNode node = JSON.readTree(text.strip());
            return node != null && node.isObject() ? node : null;
        } catch (Exception e) {
            return null;
        }
    }
}
