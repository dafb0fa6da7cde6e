"""The reporter's rules against an in-memory ConfigMap with resourceVersion semantics (the real API
server is exercised by test_kube.py when its binaries exist)."""

from __future__ import annotations

import time

from conftest import MemoryConfigMap

from phoenix_torch.report import Outcome, Reporter


def ck(step: int, timeline: str = "t1", attempt: int = 1, digest: str | None = None) -> dict[str, object]:
    return {"step": step, "digest": digest or f"sha256:{step:064x}", "stateDigest": f"sha256:{step + 1:064x}",
            "attempt": attempt, "timeline": timeline, "time": "2026-12-02T10:00:00Z"}


def test_checkpoint_report_is_the_contract_json() -> None:
    cm = MemoryConfigMap()
    r = Reporter(cm)
    assert r.report_checkpoint(ck(40)) is Outcome.WRITTEN
    assert cm.json("checkpoint") == ck(40)
    assert cm.data["checkpoint"] == ('{"attempt":1,"digest":"sha256:' + f"{40:064x}" + '","stateDigest":"sha256:'
                                     + f"{41:064x}" + '","step":40,"time":"2026-12-02T10:00:00Z","timeline":"t1"}')
    r.close()


def test_never_backwards_within_a_timeline_but_a_new_timeline_may_go_lower() -> None:
    cm = MemoryConfigMap()
    r = Reporter(cm)
    assert r.report_checkpoint(ck(40)) is Outcome.WRITTEN
    assert r.report_checkpoint(ck(30)) is Outcome.SKIPPED
    assert cm.json("checkpoint")["step"] == 40
    assert r.report_checkpoint(ck(40)) is Outcome.SKIPPED  # same step, same digest: nothing to do
    assert r.report_checkpoint(ck(40, digest="sha256:" + "e" * 64)) is Outcome.WRITTEN  # rewritten step
    assert r.report_checkpoint(ck(20, timeline="t2")) is Outcome.WRITTEN
    assert cm.json("checkpoint")["step"] == 20 and cm.json("checkpoint")["timeline"] == "t2"
    r.close()


def test_conflict_is_retried_with_a_fresh_resource_version_keeping_other_keys() -> None:
    cm = MemoryConfigMap({"progress": '{"step":5}'})
    cm.conflicts_next = 3
    r = Reporter(cm)
    assert r.report_checkpoint(ck(10)) is Outcome.WRITTEN
    assert cm.json("checkpoint")["step"] == 10
    assert cm.data["progress"] == '{"step":5}' and cm.data["other"].startswith("write")
    assert cm.puts == 1
    r.close()


def test_errors_back_off_and_give_up_at_the_deadline() -> None:
    cm = MemoryConfigMap()
    cm.fail_next = [ConnectionError("refused")] * 2
    r = Reporter(cm, backoff_seconds=0.01)
    assert r.report_checkpoint(ck(10), timeout=5) is Outcome.WRITTEN
    cm.fail_next = [ConnectionError("refused")] * 1000
    t0 = time.monotonic()
    assert r.report_checkpoint(ck(20), timeout=0.3) is Outcome.FAILED
    assert time.monotonic() - t0 < 5
    assert len(cm.fail_next) < 1000  # it did retry
    assert cm.json("checkpoint")["step"] == 10
    r.close()


def test_missing_configmap_fails_without_retrying_forever() -> None:
    cm = MemoryConfigMap(exists=False)
    r = Reporter(cm)
    assert r.report_checkpoint(ck(10), timeout=10) is Outcome.FAILED
    r.close()


def test_progress_rules() -> None:
    cm = MemoryConfigMap()
    r = Reporter(cm)
    assert r.write_progress(10, 2, "t1") is Outcome.WRITTEN
    assert r.write_progress(9, 2, "t1") is Outcome.SKIPPED  # lower step, same attempt
    assert r.write_progress(50, 1, "t1") is Outcome.SKIPPED  # older attempt
    assert r.write_progress(5, 3, "t1") is Outcome.WRITTEN   # newer attempt may be lower
    assert r.write_progress(1, 1, "t2") is Outcome.WRITTEN   # new timeline
    assert cm.json("progress")["step"] == 1
    r.close()


def test_progress_is_rate_limited_and_asynchronous() -> None:
    cm = MemoryConfigMap()
    r = Reporter(cm, progress_interval_seconds=3600)
    for s in range(1, 100):
        r.progress(s, 1, "t1")
    r.close()
    assert cm.json("progress")["step"] == 1
    assert cm.puts == 1


def test_inventory_newest_first_bounded_and_never_from_an_older_attempt() -> None:
    cm = MemoryConfigMap()
    r = Reporter(cm)
    entries = [ck(s) for s in range(10, 410, 10)]
    assert r.report_inventory(entries, 2, "t1") is Outcome.WRITTEN
    inv = cm.json("inventory")
    assert [c["step"] for c in inv["checkpoints"]] == list(range(400, 80, -10))  # 32 newest
    assert set(inv["checkpoints"][0]) == {"step", "digest", "stateDigest"}
    assert r.report_inventory([ck(10)], 1, "t1") is Outcome.SKIPPED
    assert r.report_inventory([ck(10)], 2, "t1") is Outcome.WRITTEN  # retention shrank it: the disk is the truth
    assert r.report_inventory([ck(10)], 2, "t1") is Outcome.SKIPPED  # unchanged
    assert [c["step"] for c in cm.json("inventory")["checkpoints"]] == [10]
    r.close()
