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


def test_only_a_newer_attempt_of_the_timeline_holds_the_checkpoint_key() -> None:
    cm = MemoryConfigMap()
    r = Reporter(cm)
    assert r.report_checkpoint(ck(40, attempt=2)) is Outcome.WRITTEN
    assert r.report_checkpoint(ck(50, attempt=1)) is Outcome.SKIPPED  # a newer attempt knows better
    assert cm.json("checkpoint")["step"] == 40
    assert r.report_checkpoint(ck(40, attempt=2)) is Outcome.SKIPPED  # same report: nothing to do
    assert r.report_checkpoint(ck(40, attempt=2, digest="sha256:" + "e" * 64)) is Outcome.WRITTEN  # rewritten step
    assert r.report_checkpoint(ck(20, timeline="t2")) is Outcome.WRITTEN  # a new timeline may go lower
    assert cm.json("checkpoint")["step"] == 20 and cm.json("checkpoint")["timeline"] == "t2"
    r.close()


def test_a_step_the_configmap_claims_but_the_disk_lacks_never_blocks_the_real_checkpoints() -> None:
    # issue 12, item 2: a report for a step newer than anything on disk (same timeline and attempt) must
    # not keep the trainer from reporting what it really holds
    cm = MemoryConfigMap({"checkpoint": '{"attempt":1,"digest":"sha256:' + "f" * 64 + '","stateDigest":"sha256:'
                                        + "f" * 64 + '","step":9000,"time":"2026-12-02T10:00:00Z","timeline":"t1"}'})
    r = Reporter(cm)
    assert r.report_checkpoint(ck(30), inventory=[ck(30), ck(20)]) is Outcome.WRITTEN
    assert cm.json("checkpoint")["step"] == 30
    r.close()


def test_checkpoint_inventory_and_progress_go_in_one_write() -> None:
    # The operator accepts a checkpoint only if the inventory written with it lists it and progress has
    # reached it: separate writes would let it read a checkpoint ahead of both.
    cm = MemoryConfigMap({"progress": '{"attempt":1,"step":17,"time":"2026-12-02T10:00:00Z","timeline":"t1"}'})
    r = Reporter(cm, clock=lambda: "2026-12-02T10:00:01Z")
    assert r.report_checkpoint(ck(20), inventory=[ck(20), ck(10)], resumed_from=0) is Outcome.WRITTEN
    assert cm.puts == 1
    assert cm.json("checkpoint")["step"] == 20
    assert [c["step"] for c in cm.json("inventory")["checkpoints"]] == [20, 10]
    assert cm.json("inventory")["resumedFrom"] == 0
    assert cm.json("progress") == {"attempt": 1, "step": 20, "time": "2026-12-02T10:00:01Z", "timeline": "t1"}
    r.close()


def test_a_held_checkpoint_key_still_lets_inventory_and_progress_through() -> None:
    cm = MemoryConfigMap()
    r = Reporter(cm)
    assert r.report_checkpoint(ck(90, attempt=3)) is Outcome.WRITTEN
    # an older attempt (say, a report that raced a restart) keeps status true to its disk
    assert r.report_checkpoint(ck(30, attempt=3), inventory=[ck(30)]) is Outcome.WRITTEN
    cm2 = MemoryConfigMap({"checkpoint": cm.data["checkpoint"]})
    r2 = Reporter(cm2)
    assert r2.report_checkpoint(ck(40, attempt=2), inventory=[ck(40)]) is Outcome.WRITTEN
    assert cm2.json("checkpoint")["attempt"] == 3  # held
    assert [c["step"] for c in cm2.json("inventory")["checkpoints"]] == [40]
    assert cm2.json("progress")["step"] == 40
    r.close()
    r2.close()


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
