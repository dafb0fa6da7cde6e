"""A rollback (resume from an older step on a new timeline) never resumes from a stale newer directory."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import base_env, run_mlp


def manifest(d: Path) -> dict[str, object]:
    return json.loads((d / "manifest.json").read_text())  # type: ignore[no-any-return]


def test_rollback_moves_the_abandoned_timeline_aside_and_replays_exactly(tmp_path: Path) -> None:
    ckpt = tmp_path / "ckpt"
    steps = ["--steps", "60"]
    r = run_mlp([*steps, "--stop-at-step", "45"], base_env(ckpt, tmp_path, checkpoint_interval=10, timeline="t1"))
    assert r.rc == 143, r.stderr[-3000:]
    assert sorted(p.name for p in ckpt.iterdir()) == [f"step-{s:010d}" for s in (10, 20, 30, 40, 45)]
    t1_30 = manifest(ckpt / "step-0000000030")["stateDigest"]
    (ckpt / "step-0000000050.tmp-0badf00d").mkdir()  # a save that never completed

    r = run_mlp([*steps, "--stop-at-step", "35"], base_env(ckpt, tmp_path, checkpoint_interval=10, timeline="t2",
                                                            resume_step=20, attempt=2))
    assert r.rc == 143, r.stderr[-3000:]
    top = sorted(p.name for p in ckpt.iterdir())
    assert top == ["abandoned", "step-0000000010", "step-0000000020", "step-0000000030", "step-0000000035"]
    aside = {p.name.split("_")[0]: sorted(q.name for q in p.iterdir()) for p in (ckpt / "abandoned").iterdir()}
    assert aside == {"t1": ["step-0000000030", "step-0000000040", "step-0000000045"],
                     "uncommitted": ["step-0000000050.tmp-0badf00d"]}
    replayed = manifest(ckpt / "step-0000000030")
    assert replayed["timeline"] == "t2" and replayed["stateDigest"] == t1_30

    # The stale step 40 of t1 is no checkpoint of this directory any more.
    r = run_mlp(steps, base_env(ckpt, tmp_path, timeline="t2", resume_step=40, attempt=3))
    assert r.rc == 65 and r.termination is not None
    assert "step-0000000040: no such checkpoint directory" in r.termination["message"]

    r = run_mlp(steps, base_env(ckpt, tmp_path, checkpoint_interval=10, timeline="t2", resume_step=35, attempt=4))
    assert r.rc == 0, r.stderr[-3000:]
    ref = run_mlp(steps, base_env(tmp_path / "ref", tmp_path))
    assert r.final_digest() == ref.final_digest()


def test_retention_keeps_the_newest_and_the_resume_step(tmp_path: Path) -> None:
    ckpt = tmp_path / "ckpt"
    r = run_mlp(["--steps", "30", "--stop-at-step", "5"], base_env(ckpt, tmp_path))
    assert r.rc == 143
    r = run_mlp(["--steps", "30"], base_env(ckpt, tmp_path, checkpoint_interval=4, checkpoint_keep=2, resume_step=5, attempt=2))
    assert r.rc == 0, r.stderr[-3000:]
    assert sorted(p.name for p in ckpt.iterdir()) == ["step-0000000005", "step-0000000028", "step-0000000030"]


def test_a_newer_checkpoint_of_the_timeline_is_resumed_from_when_the_step_is_not_exact(tmp_path: Path) -> None:
    # The operator knows only step 20 (the reports of 30 and 40 never reached it) and says so with
    # PHOENIX_RESUME_EXACT=false: rank 0 resumes from 40, the newest verified checkpoint of t1, instead of
    # moving 30 and 40 aside; a damaged newer one (45) is skipped and moved aside, never loaded.
    ckpt = tmp_path / "ckpt"
    steps = ["--steps", "60"]
    r = run_mlp([*steps, "--stop-at-step", "45"], base_env(ckpt, tmp_path, checkpoint_interval=10))
    assert r.rc == 143, r.stderr[-3000:]
    victim = next(p for p in sorted((ckpt / "step-0000000045").rglob("*")) if p.is_file() and p.suffix == ".distcp")
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x01
    victim.write_bytes(bytes(data))

    r = run_mlp([*steps, "--stop-at-step", "50"], base_env(ckpt, tmp_path, checkpoint_interval=10, resume_step=20,
                                                            resume_exact="false", attempt=2))
    assert r.rc == 143, r.stderr[-3000:]
    assert "resuming from it instead of moving it aside" in r.stderr
    aside = [q.name for p in (ckpt / "abandoned").iterdir() for q in p.iterdir()]
    assert aside == ["step-0000000045"]
    assert manifest(ckpt / "step-0000000050")["attempt"] == 2

    r = run_mlp(steps, base_env(ckpt, tmp_path, resume_step=50, attempt=3))
    ref = run_mlp(steps, base_env(tmp_path / "ref", tmp_path))
    assert r.rc == 0 and r.final_digest() == ref.final_digest()
