"""TorchTitan under Phoenix's agent.

- ``test_titan_checkpointer_*``: TorchTitan's own CheckpointManager, optimizer and LR-scheduler
  containers (examples/titan_layout.py) write ``step-N`` DCP directories; the agent reports the step
  TorchTitan wrote, and after ``preflight`` with an injected resume step TorchTitan's
  ``load_step`` loads exactly that step (and the run ends bit-identical to an uninterrupted one).
- ``test_real_torchtitan_*``: ``torchtitan.train`` itself with its llama3 debug model. On a GPU it must
  train, checkpoint and resume from the injected step; without one it must fail with the known CPU
  blocker (so this test notices the day TorchTitan runs on CPU).
Skipped only when torchtitan cannot be imported.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from conftest import MemoryConfigMap

from phoenix_torch.agent import Agent
from phoenix_torch.env import PhoenixEnv

titan = pytest.importorskip("torchtitan", reason="torchtitan does not import")
pytestmark = pytest.mark.torchtitan


def layout(folder: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "phoenix_torch.examples.titan_layout", "--checkpoint.folder", str(folder),
                           "--checkpoint.interval", "5", "--checkpoint.keep_latest_k", "3", "--training.steps", "20",
                           *args],
                          capture_output=True, text=True, timeout=300, env=env or {**os.environ, "OMP_NUM_THREADS": "1"})


def final(out: str) -> str:
    return next(line.split()[-1] for line in out.splitlines() if line.startswith("final step 20 params"))


def agent_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / "phoenix-agent"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "phoenix_torch.agent"]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=120, env=env)


def test_titan_checkpointer_agent_reports_what_titan_wrote_and_an_injected_step_is_loaded(tmp_path: Path) -> None:
    ref = layout(tmp_path / "ref")
    assert ref.returncode == 0, ref.stderr[-3000:]
    folder = tmp_path / "ckpt"

    # Attempt 1 (timeline t1): preempted by SIGTERM once TorchTitan has written step 10.
    p = subprocess.Popen([sys.executable, "-m", "phoenix_torch.examples.titan_layout", "--checkpoint.folder", str(folder),
                          "--checkpoint.interval", "5", "--checkpoint.keep_latest_k", "3", "--training.steps", "20",
                          "--step-sleep-ms", "300"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    end = time.monotonic() + 240
    while not (folder / "step-10" / ".metadata").exists():
        assert p.poll() is None and time.monotonic() < end, p.communicate()[1][-3000:]
        time.sleep(0.05)
    p.send_signal(signal.SIGTERM)
    p.communicate(timeout=120)
    assert p.returncode == 143
    written = sorted(int(d.name.split("-")[1]) for d in folder.iterdir() if (d / ".metadata").exists())
    assert written[:2] == [5, 10]

    cm = MemoryConfigMap()
    agent = Agent(replace(PhoenixEnv(), checkpoint_dir=folder, attempt=1, timeline="t1"), report_store=cm)
    agent.report(agent.scan())
    assert cm.json("checkpoint")["step"] == written[-1]
    assert [c["step"] for c in cm.json("inventory")["checkpoints"]] == written[::-1]

    # Attempt 2: the operator injects resume step 5 on timeline t2; preflight (the real console script)
    # verifies step-5 and moves the newer t1 steps aside; TorchTitan loads exactly step 5.
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PHOENIX_CHECKPOINT_DIR": str(folder), "PHOENIX_RESUME_STEP": "5",
           "PHOENIX_TIMELINE": "t2", "PHOENIX_ATTEMPT": "2", "PHOENIX_TERMINATION_LOG": str(tmp_path / "term")}
    pre = agent_cli("preflight", env=env)
    assert pre.returncode == 0, pre.stderr[-3000:]
    assert sorted(d.name for d in folder.iterdir()) == ["abandoned", "step-5"]
    run = layout(folder, "--checkpoint.load_step", "5")
    assert run.returncode == 0, run.stderr[-3000:]
    assert "loaded step 5" in run.stdout
    assert final(run.stdout) == final(ref.stdout)  # resumed exactly: same parameters as uninterrupted

    agent2 = Agent(replace(PhoenixEnv(), checkpoint_dir=folder, attempt=2, timeline="t2"), report_store=cm)
    agent2.report(agent2.scan())
    ck = cm.json("checkpoint")
    assert ck["step"] == 20 and ck["timeline"] == "t2"
    m = json.loads((folder / "step-20" / "manifest.json").read_text())
    assert m["timeline"] == "t2" and {f["file"] for f in m["files"]} == {".metadata", "__0_0.distcp"}

    # A resume step TorchTitan never wrote: preflight refuses with exit 65 before TorchTitan starts.
    bad = agent_cli("preflight", env={**env, "PHOENIX_RESUME_STEP": "7"})
    assert bad.returncode == 65
    t = json.loads((tmp_path / "term").read_text())
    assert t["result"] == "CheckpointInvalid" and t["step"] == 7


def titan_env(tmp: Path) -> dict[str, str]:
    from phoenix_torch.examples.titan_assets import write
    write(tmp)
    return {**os.environ, "RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "1",
            "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port()), "OMP_NUM_THREADS": "1"}


def free_port() -> int:
    # not a fixed port: pytest-xdist workers (and other checkouts' test runs) share this machine
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def real_titan(tmp: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    module = "torchtitan.train" if torch.cuda.is_available() else "phoenix_torch.examples.titan_cpu"
    return subprocess.run([sys.executable, "-m", module, "--module", "llama3", "--config", "llama3_debugmodel",
                           "--training.steps", "6", "--training.seq-len", "64", "--training.local-batch-size", "2",
                           "--checkpoint.enable", "--checkpoint.interval", "2", "--checkpoint.folder", str(tmp / "ckpt"),
                           "--dump-folder", str(tmp / "out"), "--validator.no-enable", "--compile.no-enable",
                           "--checkpoint.no-last-save-model-only", *extra],
                          cwd=tmp, env=titan_env(tmp), capture_output=True, text=True, timeout=600)


@pytest.mark.skipif(torch.cuda.is_available(), reason="the CPU blocker only exists without a GPU")
def test_real_torchtitan_cannot_train_the_debug_model_on_cpu(tmp_path: Path) -> None:
    r = real_titan(tmp_path)
    assert r.returncode != 0
    assert "FlexAttention does not support backward on CPU" in r.stderr, r.stderr[-3000:]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="TorchTitan's llama3 debug model needs a GPU (see the CPU test)")
def test_real_torchtitan_resumes_from_the_injected_step_on_gpu(tmp_path: Path) -> None:
    r = real_titan(tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    folder = tmp_path / "ckpt"
    cm = MemoryConfigMap()
    agent = Agent(replace(PhoenixEnv(), checkpoint_dir=folder), report_store=cm)
    agent.report(agent.scan())
    assert cm.json("checkpoint")["step"] == 6
    env = {**os.environ, "PHOENIX_CHECKPOINT_DIR": str(folder), "PHOENIX_RESUME_STEP": "4", "PHOENIX_TIMELINE": "t2",
           "PHOENIX_TERMINATION_LOG": str(tmp_path / "term")}
    assert agent_cli("preflight", env=env).returncode == 0
    r2 = real_titan(tmp_path, "--checkpoint.load-step", "4")
    assert r2.returncode == 0, r2.stderr[-3000:]
    assert f"Loading the checkpoint from {folder / 'step-4'}" in r2.stderr + r2.stdout
