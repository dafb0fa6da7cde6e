"""10 resumes in fresh processes end bit-identical to an uninterrupted run (torch.compile on throughout,
off throughout); a run switching compile on and off loads every time with the same key set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import base_env, run_mlp

STEPS = 24
STOPS = [2, 4, 6, 8, 10, 12, 14, 16, 18, 21]  # 10 interruptions, each resumed in a fresh process


def keyset(ckpt: Path, step: int) -> set[str]:
    m = json.loads((ckpt / f"step-{step:010d}" / "manifest.json").read_text())
    return {t["name"] for t in m["tensors"]} | set(m["state"])


def interrupted(tmp: Path, inductor: Path, compile_flags: list[bool]) -> tuple[str, Path]:
    ckpt = tmp / "ckpt"
    resume = -1
    for i, stop in enumerate([*STOPS, None]):
        env = base_env(ckpt, tmp, inductor, resume_step=resume, attempt=i + 1)
        args = ["--steps", str(STEPS)] + (["--compile"] if compile_flags[i] else [])
        if stop is not None:
            args += ["--stop-at-step", str(stop)]
        r = run_mlp(args, env)
        if stop is None:
            assert r.rc == 0, r.stderr[-3000:]
            assert r.termination and r.termination["result"] == "Succeeded"
            return r.final_digest(), ckpt
        assert r.rc == 143, r.stderr[-3000:]
        assert r.termination and r.termination["result"] == "Terminated" and r.termination["step"] == stop, r.termination
        resume = stop
    raise AssertionError("unreachable")


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_ten_resumes_end_bit_identical(tmp_path: Path, inductor_cache: Path, compiled: bool) -> None:
    flags = ["--compile"] if compiled else []
    ref = run_mlp(["--steps", str(STEPS), *flags], base_env(tmp_path / "ref", tmp_path, inductor_cache))
    assert ref.rc == 0, ref.stderr[-3000:]
    digest, ckpt = interrupted(tmp_path, inductor_cache, [compiled] * (len(STOPS) + 1))
    assert digest == ref.final_digest()
    assert keyset(ckpt, STOPS[0]) == keyset(ckpt, STOPS[-1]) == keyset(tmp_path / "ref", STEPS)


def test_switching_compile_between_resumes_loads_every_time_with_the_same_keys(tmp_path: Path, inductor_cache: Path) -> None:
    flags = [i % 2 == 1 for i in range(len(STOPS) + 1)]  # off, on, off, on, …
    _, ckpt = interrupted(tmp_path, inductor_cache, flags)
    first, tenth = keyset(ckpt, STOPS[0]), keyset(ckpt, STOPS[-1])
    assert first == tenth
    assert "model.layers.0.weight" in first and not any("_orig_mod" in k for k in first)
