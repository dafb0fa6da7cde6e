"""The reporter against a real kube-apiserver (v1.37.2 + etcd from ~/.cache/phoenix/k8s, started here
with a static token file and RBAC): the trainer's identity may only get/patch its one ConfigMap,
writes are merge patches with resourceVersion (real 409s), never backwards, and a real training
session reports checkpoint, inventory and progress. Skipped when the binaries are not there."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from phoenix_torch.report import Conflict, KubeConfigMapStore, Outcome, Reporter

BIN = Path(os.environ.get("PHOENIX_K8S_BIN", Path.home() / ".cache/phoenix/k8s/v1.37.2/bin"))
# xdist_group: under `pytest -n N --dist loadgroup` (hack/test-python.sh) this module stays on one worker,
# so one kube-apiserver + etcd serves all its tests (the fixture is module-scoped), in file order.
pytestmark = [pytest.mark.kube, pytest.mark.xdist_group("kube"),
              pytest.mark.skipif(not (BIN / "kube-apiserver").exists() or not (BIN / "etcd").exists(),
                                 reason=f"no kube-apiserver/etcd in {BIN}")]
ADMIN, TRAINER = "admin-token-1", "trainer-token-1"
NS, CM = "default", "job-report"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cluster:
    url: str
    ca: Path

    def client(self, token: str):  # type: ignore[no-untyped-def]
        from kubernetes import client
        c = client.Configuration()
        c.host = self.url
        c.ssl_ca_cert = str(self.ca)
        c.api_key = {"authorization": "Bearer " + token}
        return client.ApiClient(c)

    def core(self, token: str = ADMIN):  # type: ignore[no-untyped-def]
        from kubernetes import client
        return client.CoreV1Api(self.client(token))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    work = tmp_path_factory.mktemp("kube")
    (work / "tokens.csv").write_text(f'{ADMIN},admin,1,"system:masters"\n{TRAINER},trainer,2,\n')
    subprocess.run(["openssl", "genrsa", "-out", str(work / "sa.key"), "2048"], check=True, capture_output=True)
    subprocess.run(["openssl", "rsa", "-in", str(work / "sa.key"), "-pubout", "-out", str(work / "sa.pub")], check=True, capture_output=True)
    etcd_port, peer, api_port = free_port(), free_port(), free_port()
    etcd_url = f"http://127.0.0.1:{etcd_port}"
    logs = open(work / "etcd.log", "w"), open(work / "apiserver.log", "w")
    etcd = subprocess.Popen([str(BIN / "etcd"), "--name=t", f"--data-dir={work / 'etcd'}", f"--listen-client-urls={etcd_url}",
                             f"--advertise-client-urls={etcd_url}", f"--listen-peer-urls=http://127.0.0.1:{peer}",
                             f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}", f"--initial-cluster=t=http://127.0.0.1:{peer}",
                             "--log-level=warn"], stdout=logs[0], stderr=subprocess.STDOUT)
    api = subprocess.Popen([str(BIN / "kube-apiserver"), f"--etcd-servers={etcd_url}", "--bind-address=127.0.0.1",
                            "--advertise-address=127.0.0.1", f"--secure-port={api_port}", f"--cert-dir={work / 'certs'}",
                            f"--token-auth-file={work / 'tokens.csv'}", "--authorization-mode=RBAC",
                            "--service-account-issuer=https://phoenix.test", f"--service-account-signing-key-file={work / 'sa.key'}",
                            f"--service-account-key-file={work / 'sa.pub'}", "--service-cluster-ip-range=10.250.0.0/24",
                            "--endpoint-reconciler-type=none", "--disable-admission-plugins=ServiceAccount", "--profiling=false"],
                           stdout=logs[1], stderr=subprocess.STDOUT)
    try:
        c = Cluster(f"https://127.0.0.1:{api_port}", work / "certs" / "apiserver.crt")
        end = time.monotonic() + 180
        while True:
            assert api.poll() is None, (work / "apiserver.log").read_text()[-3000:]
            assert time.monotonic() < end, "kube-apiserver did not become ready"
            try:
                if c.ca.exists():
                    c.core().list_namespaced_config_map(NS)
                    # the RBAC bootstrap has run once the default ClusterRoles exist
                    from kubernetes import client
                    client.RbacAuthorizationV1Api(c.client(ADMIN)).read_cluster_role("admin")
                    break
            except Exception:
                pass
            time.sleep(0.5)
        setup_rbac(c)
        yield c
    finally:
        api.terminate()
        api.wait(30)
        etcd.terminate()
        etcd.wait(30)
        for f in logs:
            f.close()


def setup_rbac(c: Cluster) -> None:
    from kubernetes import client
    rbac = client.RbacAuthorizationV1Api(c.client(ADMIN))
    rbac.create_namespaced_role(NS, {"metadata": {"name": "report"}, "rules": [
        {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": [CM, "missing-report"], "verbs": ["get", "patch"]}]})
    rbac.create_namespaced_role_binding(NS, {"metadata": {"name": "report"},
                                             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "report"},
                                             "subjects": [{"kind": "User", "name": "trainer", "apiGroup": "rbac.authorization.k8s.io"}]})
    # RBAC changes take effect through the authorizer's cache: wait until the trainer may read its map.
    core = c.core()
    core.create_namespaced_config_map(NS, {"metadata": {"name": CM}, "data": {"keep": "me"}})
    end = time.monotonic() + 30
    while True:
        try:
            c.core(TRAINER).read_namespaced_config_map(CM, NS)
            return
        except Exception:
            assert time.monotonic() < end
            time.sleep(0.2)


def ck(step: int, timeline: str = "t1", attempt: int = 1) -> dict[str, object]:
    return {"step": step, "digest": f"sha256:{step:064x}", "stateDigest": f"sha256:{step + 1:064x}", "attempt": attempt,
            "timeline": timeline, "time": "2026-12-02T10:00:00Z"}


def data(c: Cluster) -> dict[str, str]:
    return dict(c.core().read_namespaced_config_map(CM, NS).data or {})


def test_only_a_newer_attempt_holds_the_checkpoint_and_other_keys_are_kept(cluster: Cluster) -> None:
    r = Reporter(KubeConfigMapStore(NS, CM, cluster.client(TRAINER)))
    assert r.report_checkpoint(ck(40, attempt=2)) is Outcome.WRITTEN
    assert r.report_checkpoint(ck(50, attempt=1)) is Outcome.SKIPPED  # an older attempt
    assert r.report_checkpoint(ck(30, attempt=2), inventory=[ck(30, attempt=2)]) is Outcome.WRITTEN  # the disk's truth
    assert json.loads(data(cluster)["inventory"])["checkpoints"][0]["step"] == 30
    assert r.report_checkpoint(ck(10, "t2")) is Outcome.WRITTEN
    d = data(cluster)
    assert json.loads(d["checkpoint"])["step"] == 10 and d["keep"] == "me"
    r.close()


def test_a_stale_resource_version_is_a_real_409(cluster: Cluster) -> None:
    store = KubeConfigMapStore(NS, CM, cluster.client(TRAINER))
    snap = store.get()
    assert snap is not None
    store.put({"a": "1"}, snap.resource_version)
    with pytest.raises(Conflict):
        store.put({"b": "2"}, snap.resource_version)
    assert "b" not in data(cluster)


def test_concurrent_writer_forces_retries_and_nothing_is_lost(cluster: Cluster) -> None:
    stop = threading.Event()
    admin = cluster.core()

    def hammer() -> None:
        i = 0
        while not stop.is_set():
            i += 1
            admin.patch_namespaced_config_map(CM, NS, {"data": {"other": str(i)}})
    t = threading.Thread(target=hammer, daemon=True)
    t.start()
    try:
        r = Reporter(KubeConfigMapStore(NS, CM, cluster.client(TRAINER)))
        for s in range(1, 30):
            assert r.write_progress(s, 5, "t3") is Outcome.WRITTEN
        r.close()
    finally:
        stop.set()
        t.join()
    d = data(cluster)
    assert json.loads(d["progress"])["step"] == 29 and int(d["other"]) > 0 and d["keep"] == "me"


def test_missing_configmap_and_forbidden_write_fail_cleanly(cluster: Cluster) -> None:
    r = Reporter(KubeConfigMapStore(NS, "missing-report", cluster.client(TRAINER)))
    assert r.report_checkpoint(ck(1), timeout=5) is Outcome.FAILED
    cluster.core().create_namespaced_config_map(NS, {"metadata": {"name": "not-yours"}})
    r2 = Reporter(KubeConfigMapStore(NS, "not-yours", cluster.client(TRAINER)), backoff_seconds=0.05)
    t0 = time.monotonic()
    assert r2.report_checkpoint(ck(1), timeout=1.0) is Outcome.FAILED  # 403, retried until the deadline
    assert time.monotonic() - t0 < 10
    r.close()
    r2.close()


def test_a_training_session_reports_checkpoint_inventory_and_progress(cluster: Cluster, tmp_path: Path) -> None:
    from test_roundtrip import make, train

    from phoenix_torch.env import PhoenixEnv
    from phoenix_torch.session import Phoenix
    cluster.core().create_namespaced_config_map(NS, {"metadata": {"name": "session-report"}})
    from kubernetes import client
    client.RbacAuthorizationV1Api(cluster.client(ADMIN)).patch_namespaced_role("report", NS, {"rules": [
        {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": [CM, "missing-report", "session-report"],
         "verbs": ["get", "patch"]}]})
    store = KubeConfigMapStore(NS, "session-report", cluster.client(TRAINER))
    end = time.monotonic() + 30
    while True:
        try:
            store.get()
            break
        except Exception:
            assert time.monotonic() < end
            time.sleep(0.2)
    env = replace(PhoenixEnv(), checkpoint_dir=tmp_path / "c", checkpoint_interval=3, checkpoint_keep=2,
                  termination_log=tmp_path / "t", progress_interval_seconds=0.0, attempt=2, timeline="t1")
    ts, model, d = make()
    px = Phoenix(ts, env, total_steps=7, report_store=store)
    step = px.start()
    while step < 7:
        train(ts, model, d, 1)
        step += 1
        px.step_done(step)
    assert px.finish(step) == 0
    got = dict(cluster.core().read_namespaced_config_map("session-report", NS).data or {})
    assert json.loads(got["checkpoint"])["step"] == 7
    assert [c["step"] for c in json.loads(got["inventory"])["checkpoints"]] == [7, 6]
    assert json.loads(got["progress"])["attempt"] == 2
