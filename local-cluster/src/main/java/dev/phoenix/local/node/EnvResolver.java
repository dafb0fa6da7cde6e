package dev.phoenix.local.node;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvFromSource;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.EnvVarSource;
import io.fabric8.kubernetes.api.model.ObjectFieldSelector;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.ResourceFieldSelector;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.client.KubernetesClient;

import java.math.BigDecimal;
import java.math.RoundingMode;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Resolves a container's environment as the kubelet does (envFrom, env with valueFrom, $(VAR) expansion). */
final class EnvResolver {

    /** Thrown when a referenced object/key is missing (the kubelet reports CreateContainerConfigError). */
    static final class ConfigException extends RuntimeException {
        ConfigException(String message) {
            super(message);
        }
    }

    private static final Pattern LABEL_REF = Pattern.compile("metadata\\.(labels|annotations)\\['([^']+)'\\]");

    private final KubernetesClient client;
    private final Map<String, Quantity> nodeAllocatable;

    EnvResolver(KubernetesClient client, Map<String, Quantity> nodeAllocatable) {
        this.client = client;
        this.nodeAllocatable = nodeAllocatable;
    }

    Map<String, String> resolve(Pod pod, Container c, String podIP, String hostIP) {
        String ns = pod.getMetadata().getNamespace();
        Map<String, String> env = new LinkedHashMap<>();
        if (c.getEnvFrom() != null) {
            for (EnvFromSource src : c.getEnvFrom()) {
                String prefix = src.getPrefix() == null ? "" : src.getPrefix();
                if (src.getConfigMapRef() != null) {
                    ConfigMap cm = client.configMaps().inNamespace(ns).withName(src.getConfigMapRef().getName()).get();
                    if (cm == null) {
                        if (Boolean.TRUE.equals(src.getConfigMapRef().getOptional())) {
                            continue;
                        }
                        throw new ConfigException("configmap \"" + src.getConfigMapRef().getName() + "\" not found");
                    }
                    if (cm.getData() != null) {
                        cm.getData().forEach((k, v) -> env.put(prefix + k, v));
                    }
                }
                if (src.getSecretRef() != null) {
                    Secret s = client.secrets().inNamespace(ns).withName(src.getSecretRef().getName()).get();
                    if (s == null) {
                        if (Boolean.TRUE.equals(src.getSecretRef().getOptional())) {
                            continue;
                        }
                        throw new ConfigException("secret \"" + src.getSecretRef().getName() + "\" not found");
                    }
                    secretData(s).forEach((k, v) -> env.put(prefix + k, new String(v, StandardCharsets.UTF_8)));
                }
            }
        }
        if (c.getEnv() != null) {
            for (EnvVar v : c.getEnv()) {
                String value;
                if (v.getValueFrom() != null) {
                    value = valueFrom(pod, c, v.getValueFrom(), podIP, hostIP);
                    if (value == null) {
                        continue; // optional and missing
                    }
                } else {
                    value = expand(v.getValue() == null ? "" : v.getValue(), env);
                }
                env.put(v.getName(), value);
            }
        }
        return env;
    }

    static Map<String, byte[]> secretData(Secret s) {
        Map<String, byte[]> out = new LinkedHashMap<>();
        if (s.getData() != null) {
            s.getData().forEach((k, v) -> out.put(k, Base64.getDecoder().decode(v)));
        }
        if (s.getStringData() != null) {
            s.getStringData().forEach((k, v) -> out.put(k, v.getBytes(StandardCharsets.UTF_8)));
        }
        return out;
    }

    private String valueFrom(Pod pod, Container c, EnvVarSource src, String podIP, String hostIP) {
        String ns = pod.getMetadata().getNamespace();
        if (src.getFieldRef() != null) {
            return fieldRef(pod, src.getFieldRef(), podIP, hostIP);
        }
        if (src.getResourceFieldRef() != null) {
            return resourceFieldRef(pod, c, src.getResourceFieldRef(), nodeAllocatable);
        }
        if (src.getConfigMapKeyRef() != null) {
            var ref = src.getConfigMapKeyRef();
            ConfigMap cm = client.configMaps().inNamespace(ns).withName(ref.getName()).get();
            String v = cm == null || cm.getData() == null ? null : cm.getData().get(ref.getKey());
            if (v == null && cm != null && cm.getBinaryData() != null && cm.getBinaryData().containsKey(ref.getKey())) {
                v = new String(Base64.getDecoder().decode(cm.getBinaryData().get(ref.getKey())), StandardCharsets.UTF_8);
            }
            if (v == null) {
                if (Boolean.TRUE.equals(ref.getOptional())) {
                    return null;
                }
                throw new ConfigException(cm == null ? "configmap \"" + ref.getName() + "\" not found"
                        : "couldn't find key " + ref.getKey() + " in ConfigMap " + ns + "/" + ref.getName());
            }
            return v;
        }
        if (src.getSecretKeyRef() != null) {
            var ref = src.getSecretKeyRef();
            Secret s = client.secrets().inNamespace(ns).withName(ref.getName()).get();
            byte[] v = s == null ? null : secretData(s).get(ref.getKey());
            if (v == null) {
                if (Boolean.TRUE.equals(ref.getOptional())) {
                    return null;
                }
                throw new ConfigException(s == null ? "secret \"" + ref.getName() + "\" not found"
                        : "couldn't find key " + ref.getKey() + " in Secret " + ns + "/" + ref.getName());
            }
            return new String(v, StandardCharsets.UTF_8);
        }
        return "";
    }

    static String fieldRef(Pod pod, ObjectFieldSelector sel, String podIP, String hostIP) {
        String path = sel.getFieldPath();
        var md = pod.getMetadata();
        switch (path) {
            case "metadata.name":
                return md.getName();
            case "metadata.namespace":
                return md.getNamespace();
            case "metadata.uid":
                return md.getUid();
            case "spec.nodeName":
                return pod.getSpec().getNodeName();
            case "spec.serviceAccountName":
                return pod.getSpec().getServiceAccountName() == null ? "" : pod.getSpec().getServiceAccountName();
            case "status.podIP":
            case "status.podIPs":
                return podIP == null ? "" : podIP;
            case "status.hostIP":
            case "status.hostIPs":
                return hostIP == null ? "" : hostIP;
            case "metadata.labels":
                return formatMap(md.getLabels());
            case "metadata.annotations":
                return formatMap(md.getAnnotations());
            default:
                Matcher m = LABEL_REF.matcher(path);
                if (m.matches()) {
                    Map<String, String> map = "labels".equals(m.group(1)) ? md.getLabels() : md.getAnnotations();
                    String v = map == null ? null : map.get(m.group(2));
                    return v == null ? "" : v;
                }
                throw new ConfigException("unsupported fieldPath " + path);
        }
    }

    static String formatMap(Map<String, String> m) {
        if (m == null) {
            return "";
        }
        List<String> lines = new ArrayList<>();
        new java.util.TreeMap<>(m).forEach((k, v) -> lines.add(k + "=\"" + v.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n") + "\""));
        return String.join("\n", lines);
    }

    static String resourceFieldRef(Pod pod, Container self, ResourceFieldSelector sel, Map<String, Quantity> allocatable) {
        Container c = self;
        if (sel.getContainerName() != null && !sel.getContainerName().isEmpty()) {
            c = allContainers(pod).stream().filter(x -> x.getName().equals(sel.getContainerName())).findFirst().orElse(self);
        }
        String res = sel.getResource();
        String[] parts = res.split("\\.", 2);
        Map<String, Quantity> map = null;
        if (c.getResources() != null) {
            map = "limits".equals(parts[0]) ? c.getResources().getLimits() : c.getResources().getRequests();
        }
        Quantity q = map == null ? null : map.get(parts[1]);
        if (q == null && "limits".equals(parts[0]) && allocatable != null) {
            q = allocatable.get(parts[1]);
        }
        if (q == null) {
            return "0";
        }
        BigDecimal value = q.getNumericalAmount();
        BigDecimal divisor = sel.getDivisor() == null ? BigDecimal.ONE : sel.getDivisor().getNumericalAmount();
        if (divisor.signum() == 0) {
            divisor = BigDecimal.ONE;
        }
        return value.divide(divisor, 0, RoundingMode.CEILING).toPlainString();
    }

    static List<Container> allContainers(Pod pod) {
        List<Container> all = new ArrayList<>();
        if (pod.getSpec().getInitContainers() != null) {
            all.addAll(pod.getSpec().getInitContainers());
        }
        all.addAll(pod.getSpec().getContainers());
        return all;
    }

    /** The kubelet's $(VAR) expansion: defined names are replaced, $$ escapes, undefined stay as written. */
    static String expand(String in, Map<String, String> vars) {
        StringBuilder out = new StringBuilder();
        int i = 0;
        while (i < in.length()) {
            char ch = in.charAt(i);
            if (ch == '$' && i + 1 < in.length()) {
                char next = in.charAt(i + 1);
                if (next == '$') {
                    out.append('$');
                    i += 2;
                    continue;
                }
                if (next == '(') {
                    int close = in.indexOf(')', i + 2);
                    if (close > 0) {
                        String name = in.substring(i + 2, close);
                        String v = vars.get(name);
                        out.append(v != null ? v : "$(" + name + ")");
                        i = close + 1;
                        continue;
                    }
                }
            }
            out.append(ch);
            i++;
        }
        return out.toString();
    }

    static List<String> expandAll(List<String> in, Map<String, String> vars) {
        List<String> out = new ArrayList<>();
        if (in != null) {
            for (String s : in) {
                out.add(expand(s, vars));
            }
        }
        return out;
    }
}
