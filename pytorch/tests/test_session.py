"""The library reports checkpoint, inventory and progress of a real training loop (in-process)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from conftest import MemoryConfigMap
from test_roundtrip import make, train

from phoenix_torch.env import ContractError, PhoenixEnv
from phoenix_torch.session import Phoenix, PhoenixExit


def test_reports_checkpoint_inventory_and_progress(tmp_path: Path) -> None:
    cm = MemoryConfigMap()
    env = replace(PhoenixEnv(), checkpoint_dir=tmp_path / "c", checkpoint_interval=2, checkpoint_keep=2,
                  termination_log=tmp_path / "t", progress_interval_seconds=0.0, attempt=3, timeline="t4")
    ts, model, data = make()
    px = Phoenix(ts, env, total_steps=7, report_store=cm)
    step = px.start()
    while step < 7:
        train(ts, model, data, 1)
        step += 1
        assert not px.step_done(step)
    assert px.finish(step) == 0
    ck = cm.json("checkpoint")
    assert ck["step"] == 7 and ck["attempt"] == 3 and ck["timeline"] == "t4"
    inv = cm.json("inventory")
    assert [c["step"] for c in inv["checkpoints"]] == [7, 6] and inv["checkpoints"][0]["digest"] == ck["digest"]
    assert cm.json("progress")["step"] >= 1
    assert (tmp_path / "t").read_text().startswith('{"digest":"sha256:')


def test_resume_step_beyond_total_steps_is_a_clear_error(tmp_path: Path) -> None:
    ts, _, _ = make()
    with pytest.raises(ValueError, match="PHOENIX_RESUME_STEP=50 is beyond the total steps 10"):
        Phoenix(ts, replace(PhoenixEnv(), resume_step=50, checkpoint_dir=tmp_path), total_steps=10)


def test_missing_resume_checkpoint_exits_65(tmp_path: Path) -> None:
    ts, _, _ = make()
    px = Phoenix(ts, replace(PhoenixEnv(), resume_step=5, checkpoint_dir=tmp_path, termination_log=tmp_path / "t"), total_steps=10)
    with pytest.raises(PhoenixExit) as e:
        px.start()
    assert e.value.code == 65
    assert '"result":"CheckpointInvalid"' in (tmp_path / "t").read_text()


def test_environment_errors_name_the_variable() -> None:
    with pytest.raises(ContractError, match="PHOENIX_RESUME_STEP='x' is not an integer"):
        PhoenixEnv.from_environ({"PHOENIX_RESUME_STEP": "x"})
    with pytest.raises(ContractError, match="rank 2 .* must be < world size 2"):
        PhoenixEnv.from_environ({"RANK": "2", "WORLD_SIZE": "2"})
    e = PhoenixEnv.from_environ({"PHOENIX_RANK": "1", "RANK": "0", "WORLD_SIZE": "2", "PHOENIX_RESUME_STEP": "0",
                                 "PHOENIX_GRACE_SECONDS": "45"})
    assert e.rank == 1 and e.world_size == 2 and e.resume_step == -1 and not e.resuming and e.grace_seconds == 45


def test_a_collective_broken_by_a_vanished_peer_is_peer_lost_not_failed(tmp_path: Path) -> None:
    import json

    def run() -> int:
        try:
            raise ConnectionResetError(104, "Connection reset by peer")
        except ConnectionResetError as cause:
            raise RuntimeError("[../gloo/transport/tcp/pair.cc:598] Connection closed by peer [10.221.0.12]:41234") from cause

    log = tmp_path / "termination-log"
    with pytest.raises(SystemExit) as exited:
        Phoenix.main(run, termination_log=str(log))
    assert exited.value.code == 1
    assert json.loads(log.read_text())["result"] == "PeerLost"


def test_any_other_error_is_failed(tmp_path: Path) -> None:
    import json

    def run() -> int:
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    log = tmp_path / "termination-log"
    with pytest.raises(SystemExit):
        Phoenix.main(run, termination_log=str(log))
    assert json.loads(log.read_text())["result"] == "Failed"
