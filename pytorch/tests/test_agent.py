"""The checkpoint agent on DCP directories laid out as TorchTitan writes them (``step-N/.metadata``)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import torch
import torch.distributed.checkpoint as dcp
from conftest import MemoryConfigMap

from phoenix_torch.agent import Agent
from phoenix_torch.env import PhoenixEnv


def titan_save(root: Path, step: int, value: float) -> None:
    # What TorchTitan's checkpointer does: dcp.save of its state into <folder>/step-<N> (no padding).
    state = {"model": {"w": torch.full((4, 4), value)}, "train_state": {"step": step}}
    dcp.save(state, checkpoint_id=str(root / f"step-{step}"))


def env_for(root: Path, tmp: Path, **kw: object) -> PhoenixEnv:
    return replace(PhoenixEnv(), checkpoint_dir=root, termination_log=tmp / "termination-log", **kw)  # type: ignore[arg-type]


def test_agent_writes_manifests_and_reports_checkpoint_and_inventory(tmp_path: Path) -> None:
    root = tmp_path / "checkpoint"
    titan_save(root, 10, 1.0)
    titan_save(root, 20, 2.0)
    (root / "step-30").mkdir()  # a save in progress: no .metadata yet
    cm = MemoryConfigMap()
    agent = Agent(env_for(root, tmp_path, attempt=2, timeline="t1"), report_store=cm)
    entries = agent.scan()
    assert [e["step"] for e in entries] == [20, 10]
    m = json.loads((root / "step-20" / "manifest.json").read_text())
    assert {f["file"] for f in m["files"]} == {".metadata", "__0_0.distcp"}
    assert {t["name"] for t in m["tensors"]} == {"model.w"} and m["objects"] == ["train_state.step"]
    agent.report(entries)
    assert cm.json("checkpoint")["step"] == 20 and cm.json("checkpoint")["digest"] == entries[0]["digest"]
    assert [c["step"] for c in cm.json("inventory")["checkpoints"]] == [20, 10]

    titan_save(root, 30, 3.0)  # the trainer finishes step 30 and TorchTitan's retention drops step 10
    import shutil
    shutil.rmtree(root / "step-10")
    agent.report(agent.scan())
    assert cm.json("checkpoint")["step"] == 30
    assert [c["step"] for c in cm.json("inventory")["checkpoints"]] == [30, 20]
    agent.reporter.close()  # type: ignore[union-attr]


def test_same_state_same_digest_and_corruption_after_commit_is_detected(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    titan_save(a, 10, 1.0)
    titan_save(b, 10, 1.0)
    ea = Agent(env_for(a, tmp_path)).scan()
    eb = Agent(env_for(b, tmp_path)).scan()
    assert ea[0]["stateDigest"] == eb[0]["stateDigest"]
    f = a / "step-10" / "__0_0.distcp"
    data = bytearray(f.read_bytes())
    data[-20] ^= 0xFF
    f.write_bytes(bytes(data))
    assert Agent(env_for(a, tmp_path)).scan() == []


def test_preflight_verifies_the_resume_step_and_moves_newer_steps_aside(tmp_path: Path) -> None:
    root = tmp_path / "checkpoint"
    for s in (10, 20, 30):
        titan_save(root, s, float(s))
    Agent(env_for(root, tmp_path, timeline="t1")).scan()
    (root / "step-40.tmp-1234").mkdir()
    rc = Agent(env_for(root, tmp_path, resume_step=20, timeline="t2", attempt=2)).preflight()
    assert rc == 0
    assert sorted(p.name for p in root.iterdir()) == ["abandoned", "step-10", "step-20"]
    moved = sorted(q.name for p in (root / "abandoned").iterdir() for q in p.iterdir())
    assert moved == ["step-30", "step-40.tmp-1234"]


def test_preflight_exits_65_for_a_missing_or_corrupt_resume_step(tmp_path: Path) -> None:
    root = tmp_path / "checkpoint"
    titan_save(root, 10, 1.0)
    assert Agent(env_for(root, tmp_path, resume_step=15)).preflight() == 65
    t = json.loads((tmp_path / "termination-log").read_text())
    assert t["result"] == "CheckpointInvalid" and t["step"] == 15 and "step-15: no such checkpoint directory" in t["message"]
    Agent(env_for(root, tmp_path)).scan()
    (root / "step-10" / "__0_0.distcp").write_bytes(b"x")
    assert Agent(env_for(root, tmp_path, resume_step=10)).preflight() == 65
    t = json.loads((tmp_path / "termination-log").read_text())
    assert t["step"] == 10 and "__0_0.distcp: file has 1 bytes" in t["message"]


def test_fresh_start_moves_every_step_aside(tmp_path: Path) -> None:
    root = tmp_path / "checkpoint"
    titan_save(root, 10, 1.0)
    assert Agent(env_for(root, tmp_path)).preflight() == 0
    assert [p.name for p in root.iterdir()] == ["abandoned"]
