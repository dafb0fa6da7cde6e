package dev.phoenix.local.node;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.DownwardAPIVolumeFile;
import io.fabric8.kubernetes.api.model.KeyToPath;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeProjection;
import io.fabric8.kubernetes.api.model.authentication.TokenRequest;
import io.fabric8.kubernetes.api.model.authentication.TokenRequestBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Materializes a pod's volumes as local directories (or files, for hostPath files). */
final class PodVolumes {

    private final KubernetesClient client;
    private final Path workDir;

    PodVolumes(KubernetesClient client, Path workDir) {
        this.client = client;
        this.workDir = workDir;
    }

    /** Returns volume name → local path. Throws {@link EnvResolver.ConfigException} when a source is missing. */
    Map<String, Path> prepare(Pod pod, Path podDir, String podIP) throws IOException {
        Map<String, Path> out = new LinkedHashMap<>();
        if (pod.getSpec().getVolumes() == null) {
            return out;
        }
        String ns = pod.getMetadata().getNamespace();
        for (Volume v : pod.getSpec().getVolumes()) {
            Path local;
            if (v.getHostPath() != null) {
                local = Path.of(v.getHostPath().getPath());
                String type = v.getHostPath().getType() == null ? "" : v.getHostPath().getType();
                switch (type) {
                    case "DirectoryOrCreate" -> Files.createDirectories(local);
                    case "FileOrCreate" -> {
                        Files.createDirectories(local.getParent());
                        if (!Files.exists(local)) {
                            Files.createFile(local);
                        }
                    }
                    case "Directory" -> require(Files.isDirectory(local), "hostPath " + local + " is not a directory");
                    case "File" -> require(Files.isRegularFile(local), "hostPath " + local + " is not a file");
                    default -> {
                        if (!Files.exists(local)) {
                            // "" : no check; create a directory so that the bind mount has a source
                            Files.createDirectories(local);
                        }
                    }
                }
            } else if (v.getPersistentVolumeClaim() != null) {
                local = workDir.resolve("pvc").resolve(ns).resolve(v.getPersistentVolumeClaim().getClaimName());
                Files.createDirectories(local);
            } else if (v.getConfigMap() != null) {
                local = fresh(podDir, v);
                var src = v.getConfigMap();
                writeConfigMap(ns, src.getName(), src.getItems(), src.getOptional(), src.getDefaultMode(), local);
            } else if (v.getSecret() != null) {
                local = fresh(podDir, v);
                var src = v.getSecret();
                writeSecret(ns, src.getSecretName(), src.getItems(), src.getOptional(), src.getDefaultMode(), local);
            } else if (v.getDownwardAPI() != null) {
                local = fresh(podDir, v);
                writeDownward(pod, v.getDownwardAPI().getItems(), podIP, local);
            } else if (v.getProjected() != null) {
                local = fresh(podDir, v);
                for (VolumeProjection p : v.getProjected().getSources()) {
                    if (p.getConfigMap() != null) {
                        writeConfigMap(ns, p.getConfigMap().getName(), p.getConfigMap().getItems(), p.getConfigMap().getOptional(), null, local);
                    } else if (p.getSecret() != null) {
                        writeSecret(ns, p.getSecret().getName(), p.getSecret().getItems(), p.getSecret().getOptional(), null, local);
                    } else if (p.getDownwardAPI() != null) {
                        writeDownward(pod, p.getDownwardAPI().getItems(), podIP, local);
                    } else if (p.getServiceAccountToken() != null) {
                        var t = p.getServiceAccountToken();
                        String token = token(pod, t.getAudience() == null ? List.of() : List.of(t.getAudience()),
                                t.getExpirationSeconds() == null ? 3600L : t.getExpirationSeconds());
                        write(local.resolve(t.getPath()), token.getBytes(StandardCharsets.UTF_8), null);
                    }
                }
            } else {
                // emptyDir and anything else: a per-pod directory
                local = podDir.resolve("volumes").resolve(v.getName());
                Files.createDirectories(local);
            }
            out.put(v.getName(), local);
        }
        return out;
    }

    private static void require(boolean ok, String message) {
        if (!ok) {
            throw new EnvResolver.ConfigException(message);
        }
    }

    private static Path fresh(Path podDir, Volume v) throws IOException {
        Path p = podDir.resolve("volumes").resolve(v.getName());
        Files.createDirectories(p);
        return p;
    }

    private void writeConfigMap(String ns, String name, List<KeyToPath> items, Boolean optional, Integer mode, Path dir) throws IOException {
        ConfigMap cm = client.configMaps().inNamespace(ns).withName(name).get();
        if (cm == null) {
            require(Boolean.TRUE.equals(optional), "configmap \"" + name + "\" not found");
            return;
        }
        Map<String, byte[]> data = new LinkedHashMap<>();
        if (cm.getData() != null) {
            cm.getData().forEach((k, v) -> data.put(k, v.getBytes(StandardCharsets.UTF_8)));
        }
        if (cm.getBinaryData() != null) {
            cm.getBinaryData().forEach((k, v) -> data.put(k, Base64.getDecoder().decode(v)));
        }
        writeItems(data, items, optional, mode, dir, "ConfigMap " + name);
    }

    private void writeSecret(String ns, String name, List<KeyToPath> items, Boolean optional, Integer mode, Path dir) throws IOException {
        Secret s = client.secrets().inNamespace(ns).withName(name).get();
        if (s == null) {
            require(Boolean.TRUE.equals(optional), "secret \"" + name + "\" not found");
            return;
        }
        writeItems(EnvResolver.secretData(s), items, optional, mode, dir, "Secret " + name);
    }

    private static void writeItems(Map<String, byte[]> data, List<KeyToPath> items, Boolean optional, Integer mode, Path dir, String what) throws IOException {
        if (items == null || items.isEmpty()) {
            for (Map.Entry<String, byte[]> e : data.entrySet()) {
                write(dir.resolve(e.getKey()), e.getValue(), mode);
            }
            return;
        }
        for (KeyToPath item : items) {
            byte[] v = data.get(item.getKey());
            if (v == null) {
                require(Boolean.TRUE.equals(optional), "configmap references non-existent config key: " + item.getKey() + " (" + what + ")");
                continue;
            }
            write(dir.resolve(item.getPath()), v, item.getMode() != null ? item.getMode() : mode);
        }
    }

    private static void writeDownward(Pod pod, List<DownwardAPIVolumeFile> items, String podIP, Path dir) throws IOException {
        if (items == null) {
            return;
        }
        for (DownwardAPIVolumeFile f : items) {
            String value;
            if (f.getFieldRef() != null) {
                value = EnvResolver.fieldRef(pod, f.getFieldRef(), podIP, "127.0.0.1");
            } else if (f.getResourceFieldRef() != null) {
                var c = EnvResolver.allContainers(pod).stream()
                        .filter(x -> x.getName().equals(f.getResourceFieldRef().getContainerName())).findFirst()
                        .orElse(pod.getSpec().getContainers().get(0));
                value = EnvResolver.resourceFieldRef(pod, c, f.getResourceFieldRef(), null);
            } else {
                value = "";
            }
            write(dir.resolve(f.getPath()), value.getBytes(StandardCharsets.UTF_8), f.getMode());
        }
    }

    static void write(Path file, byte[] bytes, Integer mode) throws IOException {
        Files.createDirectories(file.getParent());
        Files.write(file, bytes);
        if (mode != null) {
            Files.setPosixFilePermissions(file, PosixFilePermissions.fromString(perm(mode)));
        }
    }

    private static String perm(int mode) {
        String chars = "rwxrwxrwx";
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 9; i++) {
            sb.append((mode & (1 << (8 - i))) != 0 ? chars.charAt(i) : '-');
        }
        return sb.toString();
    }

    /** A token for the pod's ServiceAccount, bound to the pod, through the TokenRequest API. */
    String token(Pod pod, List<String> audiences, long expirationSeconds) {
        String sa = serviceAccount(pod);
        TokenRequest req = new TokenRequestBuilder()
                .withNewSpec()
                .withAudiences(audiences)
                .withExpirationSeconds(expirationSeconds)
                .withNewBoundObjectRef().withApiVersion("v1").withKind("Pod")
                .withName(pod.getMetadata().getName()).withUid(pod.getMetadata().getUid()).endBoundObjectRef()
                .endSpec().build();
        TokenRequest res = client.serviceAccounts().inNamespace(pod.getMetadata().getNamespace()).withName(sa).tokenRequest(req);
        return res.getStatus().getToken();
    }

    static String serviceAccount(Pod pod) {
        String sa = pod.getSpec().getServiceAccountName();
        if (sa == null || sa.isEmpty()) {
            sa = pod.getSpec().getServiceAccount();
        }
        return sa == null || sa.isEmpty() ? "default" : sa;
    }
}
