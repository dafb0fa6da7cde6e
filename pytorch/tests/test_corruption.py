"""Every corruption is detected with an error naming what is wrong, and nothing is applied."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import nn
from conftest import base_env, run_mlp
from test_roundtrip import make, snapshot, train

from phoenix_torch import checkpoint
from phoenix_torch.checkpoint import CheckpointError
from phoenix_torch.state import TrainState
from phoenix_torch.store import CheckpointStore

STEP = 3
D = f"step-{STEP:010d}"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pristine")
    ts, model, data = make()
    train(ts, model, data, STEP)
    checkpoint.save(CheckpointStore(root), ts, STEP, attempt=1, timeline="t1", job_uid="uid-1")
    return root


def data_file(d: Path) -> Path:
    return next(p for p in d.iterdir() if p.suffix == ".distcp")


def truncate(d: Path) -> None:
    f = data_file(d)
    f.write_bytes(f.read_bytes()[:-7])


def flip(d: Path) -> None:
    f = data_file(d)
    b = bytearray(f.read_bytes())
    b[len(b) // 2] ^= 0x01
    f.write_bytes(bytes(b))


def drop_manifest(d: Path) -> None:
    (d / "manifest.json").unlink()


def garbage_manifest(d: Path) -> None:
    (d / "manifest.json").write_text("{not json")


def extra_file(d: Path) -> None:
    (d / "notes.txt").write_text("hello")


def tamper_state(d: Path) -> None:
    m = json.loads((d / "manifest.json").read_text())
    m["state"]["rank0.data.position"] = 99
    (d / "manifest.json").write_text(json.dumps(m))


def leave_only_tmp(d: Path) -> None:
    d.rename(d.parent / f"{D}.tmp-deadbeef")


CASES: dict[str, tuple[Callable[[Path], None], str]] = {
    "truncated file": (truncate, r"__0_0\.distcp: file has \d+ bytes, manifest says \d+"),
    "flipped byte": (flip, r"__0_0\.distcp: SHA-256 mismatch"),
    "missing manifest": (drop_manifest, r"no manifest\.json \(not a committed checkpoint\)"),
    "garbage manifest": (garbage_manifest, r"manifest\.json: unreadable"),
    "extra file": (extra_file, r"notes\.txt: unexpected file"),
    "tampered state": (tamper_state, r"stateDigest does not match"),
    "leftover tmp": (leave_only_tmp, r"no such checkpoint directory .*only the uncommitted step-0000000003\.tmp-deadbeef"),
}


def corrupted(pristine: Path, tmp: Path, how: Callable[[Path], None]) -> Path:
    root = tmp / "ckpt"
    shutil.copytree(pristine, root)
    how(root / D)
    return root


@pytest.mark.parametrize("case", list(CASES))
def test_corruption_is_named_and_nothing_is_applied(pristine: Path, tmp_path: Path, case: str) -> None:
    how, pattern = CASES[case]
    root = corrupted(pristine, tmp_path, how)
    ts, model, data = make(seed=5)
    train(ts, model, data, 1)
    before = snapshot(ts, STEP)
    with pytest.raises(CheckpointError, match=pattern):
        checkpoint.load(CheckpointStore(root), ts, STEP)
    after = snapshot(ts, STEP)
    for k, v in before.items():
        if isinstance(v, torch.Tensor) and not k.startswith("rank0.rng"):
            assert torch.equal(v, after[k]), f"{k} changed by a failed load"  # type: ignore[arg-type]


def model_with(extra: bool) -> TrainState:
    from phoenix_torch.examples.mlp import Mlp, SyntheticData
    torch.manual_seed(1)
    model = Mlp(8, 16, 2, 3, 0.1)
    if extra:
        model.register_buffer("calibration", torch.zeros(3))
    else:
        model.head = nn.Linear(16, 3, bias=False)
    ts = TrainState(model, torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.01), None,
                    SyntheticData(1, 8, 3, 8, 0, 1))
    ts_ref, _, _ = make()
    ts.scheduler = ts_ref.scheduler  # same scheduler keys as the saved run
    ts.scheduler.optimizer = ts.optimizer  # type: ignore[union-attr]
    train(ts, model, ts.data, 1)  # type: ignore[arg-type]
    return ts


def test_missing_tensor_is_named(pristine: Path) -> None:
    with pytest.raises(CheckpointError, match=r"model\.calibration: missing from the checkpoint"):
        checkpoint.load(CheckpointStore(pristine), model_with(extra=True), STEP)


def test_extra_tensor_is_named(pristine: Path) -> None:
    with pytest.raises(CheckpointError, match=r"model\.head\.bias: unexpected key"):
        checkpoint.load(CheckpointStore(pristine), model_with(extra=False), STEP)


def test_misshaped_tensor_is_named(pristine: Path) -> None:
    ts2, model, data = make(hidden=17)
    train(ts2, model, data, 1)
    with pytest.raises(CheckpointError, match=r"model\.head\.weight: checkpoint has float32 \[3, 16\], the model expects float32 \[3, 17\]"):
        checkpoint.load(CheckpointStore(pristine), ts2, STEP)


def test_another_jobs_checkpoint_is_refused(pristine: Path) -> None:
    ts, _, _ = make()
    with pytest.raises(CheckpointError, match=r"belongs to job UID uid-1, not this job \(uid-2\)"):
        checkpoint.load(CheckpointStore(pristine), ts, STEP, job_uid="uid-2")


@pytest.mark.parametrize("case", ["flipped byte", "missing manifest"])
def test_trainer_exits_65_with_a_message_naming_step_and_why(tmp_path: Path, case: str) -> None:
    ckpt = tmp_path / "ckpt"
    r = run_mlp(["--steps", "10", "--stop-at-step", "4"], base_env(ckpt, tmp_path))
    assert r.rc == 143, r.stderr[-2000:]
    how, pattern = CASES[case]
    how(ckpt / "step-0000000004")
    r = run_mlp(["--steps", "10"], base_env(ckpt, tmp_path, resume_step=4, attempt=2))
    assert r.rc == 65, r.stderr[-2000:]
    assert r.termination is not None and r.termination["result"] == "CheckpointInvalid" and r.termination["step"] == 4
    import re
    assert re.search(pattern.replace("step-0000000003", "step-0000000004"), r.termination["message"]), r.termination
    assert sorted(p.name for p in ckpt.iterdir()) == ["step-0000000004"]  # nothing moved or written
