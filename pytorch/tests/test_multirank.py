"""Two ranks over gloo (two processes, one shared checkpoint directory): an interrupted gang ends
bit-identical to an uninterrupted gang; SIGTERM to rank 1 only stops both after the same step with a
valid checkpoint, and both ranks write the same termination message."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from conftest import TINY, base_env

from phoenix_torch import checkpoint
from phoenix_torch.store import CheckpointStore


def port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def gang(ckpt: Path, tmp: Path, args: list[str], **contract: object) -> list[subprocess.Popen[str]]:
    p = port()
    procs = []
    for r in range(2):
        (tmp / f"r{r}").mkdir(exist_ok=True)
        env = base_env(ckpt, tmp / f"r{r}", **contract)
        env.update({"RANK": str(r), "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(p)})
        procs.append(subprocess.Popen([sys.executable, "-m", "phoenix_torch.examples.mlp", *TINY, *args], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    return procs


def finish(procs: list[subprocess.Popen[str]], tmp: Path) -> tuple[list[int], list[dict[str, object]], str]:
    outs = [p.communicate(timeout=300) for p in procs]
    msgs = [json.loads((tmp / f"r{r}" / "termination-log").read_text()) for r in range(2)]
    return [p.returncode for p in procs], msgs, outs[0][0] + outs[0][1][-3000:] + outs[1][1][-3000:]


def test_interrupted_gang_equals_uninterrupted_gang(tmp_path: Path) -> None:
    rc, ref, log = finish(gang(tmp_path / "ref", tmp_path, ["--steps", "12"]), tmp_path)
    assert rc == [0, 0], log
    assert ref[0] == ref[1] and ref[0]["result"] == "Succeeded"
    ckpt = tmp_path / "ckpt"
    rc, msgs, log = finish(gang(ckpt, tmp_path, ["--steps", "12", "--stop-at-step", "5"]), tmp_path)
    assert rc == [143, 143], log
    assert msgs[0] == msgs[1] and msgs[0]["step"] == 5
    m = json.loads((ckpt / "step-0000000005" / "manifest.json").read_text())
    assert m["worldSize"] == 2 and {f["file"] for f in m["files"]} >= {".metadata", "__0_0.distcp", "__1_0.distcp"}
    assert {"rank0.rng.torch", "rank1.rng.torch", "rank0.data.position", "rank1.data.position"} <= {t["name"] for t in m["tensors"]} | set(m["state"])
    rc, msgs, log = finish(gang(ckpt, tmp_path, ["--steps", "12"], resume_step=5, attempt=2), tmp_path)
    assert rc == [0, 0], log
    assert msgs[0]["stateDigest"] == ref[0]["stateDigest"]


def test_sigterm_to_rank_1_stops_both_after_the_same_step(tmp_path: Path) -> None:
    ckpt = tmp_path / "ckpt"
    procs = gang(ckpt, tmp_path, ["--steps", "100000", "--step-sleep-ms", "20"], checkpoint_interval=3)
    end = time.monotonic() + 180
    while not (ckpt / "step-0000000003" / "manifest.json").exists():
        assert all(p.poll() is None for p in procs) and time.monotonic() < end
        time.sleep(0.05)
    procs[1].send_signal(signal.SIGTERM)
    rc, msgs, log = finish(procs, tmp_path)
    assert rc == [143, 143], log
    assert msgs[0] == msgs[1] and msgs[0]["result"] == "Terminated" and "digest" in msgs[0]
    v = checkpoint.verify(CheckpointStore(ckpt), int(msgs[0]["step"]))  # type: ignore[call-overload]
    assert v.digest == msgs[0]["digest"]
