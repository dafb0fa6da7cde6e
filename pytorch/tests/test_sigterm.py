"""A real SIGTERM mid-run: the step finishes, a valid emergency checkpoint equals an undisturbed run's
state at that step; without enough grace period no checkpoint, and the message says so."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import TINY, base_env, run_mlp

from phoenix_torch import checkpoint
from phoenix_torch.store import CheckpointStore


def start(env: dict[str, str], args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "phoenix_torch.examples.mlp", *TINY, *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_progress(p: subprocess.Popen[str], ckpt: Path, step: int, timeout: float = 120) -> None:
    # periodic checkpoints every 2 steps show that training is under way
    end = time.monotonic() + timeout
    while not (ckpt / f"step-{step:010d}" / "manifest.json").exists():
        assert p.poll() is None, p.communicate()[1][-3000:]
        assert time.monotonic() < end, "trainer made no progress"
        time.sleep(0.05)


def test_sigterm_gives_a_valid_emergency_checkpoint_equal_to_an_undisturbed_run(tmp_path: Path) -> None:
    ckpt = tmp_path / "ckpt"
    env = base_env(ckpt, tmp_path, checkpoint_interval=2, grace_seconds=30)
    p = start(env, ["--steps", "100000", "--step-sleep-ms", "20"])
    wait_for_progress(p, ckpt, 4)
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 143, err[-3000:]
    t = json.loads((tmp_path / "termination-log").read_text())
    assert t["result"] == "Terminated" and t["step"] >= 4 and t["digest"].startswith("sha256:")
    n = t["step"]
    v = checkpoint.verify(CheckpointStore(ckpt), n)
    assert v.digest == t["digest"] and v.manifest["stateDigest"] == t["stateDigest"]
    # The same run stopped at that step without a signal has the same state, bit for bit.
    ref = run_mlp(["--steps", "100000", "--stop-at-step", str(n)], base_env(tmp_path / "ref", tmp_path))
    assert ref.rc == 143 and ref.termination is not None
    assert ref.termination["stateDigest"] == t["stateDigest"]


def test_sigterm_without_enough_grace_writes_no_checkpoint(tmp_path: Path) -> None:
    ckpt = tmp_path / "ckpt"
    env = base_env(ckpt, tmp_path, checkpoint_interval=2, grace_seconds=0.5)
    p = start(env, ["--steps", "100000", "--step-sleep-ms", "20"])
    wait_for_progress(p, ckpt, 2)
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 143, err[-3000:]
    t = json.loads((tmp_path / "termination-log").read_text())
    assert set(t) == {"result", "step"} and t["result"] == "Terminated"
    if t["step"] % 2:  # an odd step is not a periodic checkpoint: nothing may exist for it
        assert not (ckpt / f"step-{t['step']:010d}").exists()
