"""The pod contract's environment (shared/DESIGN.md, docs/contract.md), parsed once with clear errors."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


class ContractError(ValueError):
    """A contract variable has a value that cannot be used; the message names the variable."""


def _first(env: Mapping[str, str], names: tuple[str, ...]) -> tuple[str, str] | None:
    for name in names:
        value = env.get(name)
        if value is not None and value.strip() != "":
            return name, value.strip()
    return None


def _int(env: Mapping[str, str], names: tuple[str, ...], default: int, minimum: int | None = None) -> int:
    found = _first(env, names)
    if found is None:
        return default
    name, raw = found
    try:
        value = int(raw)
    except ValueError:
        raise ContractError(f"{name}={raw!r} is not an integer") from None
    if minimum is not None and value < minimum:
        raise ContractError(f"{name}={value} must be >= {minimum}")
    return value


def _float(env: Mapping[str, str], names: tuple[str, ...], default: float, minimum: float = 0.0) -> float:
    found = _first(env, names)
    if found is None:
        return default
    name, raw = found
    try:
        value = float(raw)
    except ValueError:
        raise ContractError(f"{name}={raw!r} is not a number") from None
    if value < minimum:
        raise ContractError(f"{name}={value} must be >= {minimum}")
    return value


def _bool(env: Mapping[str, str], names: tuple[str, ...], default: bool) -> bool:
    found = _first(env, names)
    if found is None:
        return default
    name, raw = found
    if raw.strip().lower() in ("true", "1", "yes"):
        return True
    if raw.strip().lower() in ("false", "0", "no"):
        return False
    raise ContractError(f"{name}={raw!r} is not true or false")


def _str(env: Mapping[str, str], names: tuple[str, ...], default: str | None) -> str | None:
    found = _first(env, names)
    return default if found is None else found[1]


@dataclass(frozen=True)
class PhoenixEnv:
    """Everything the operator tells a worker, with the same defaults as the Java reference trainer.

    Names: ``PHOENIX_*`` first, then the plain PyTorch names (``RANK``, ``WORLD_SIZE``); a blank value
    counts as unset. ``resume_step`` is ``-1`` for a fresh start (absent, ``-1`` or ``0``).
    """

    job_name: str = "local"
    namespace: str = "default"
    pod_name: str = "local"
    job_uid: str | None = None
    attempt: int = 1
    timeline: str = "t1"
    rank: int = 0
    world_size: int = 1
    master_addr: str = "127.0.0.1"
    master_port: int = 29500
    checkpoint_dir: Path = Path("checkpoints")
    checkpoint_interval: int = 100
    checkpoint_keep: int = 3
    resume_step: int = -1
    #: False when the operator's step is only the newest it knows of (PHOENIX_RESUME_EXACT=false): rank 0
    #: resumes from a newer committed, verified checkpoint of the same timeline if the disk holds one.
    resume_exact: bool = True
    report_configmap: str | None = None
    progress_interval_seconds: float = 5.0
    termination_log: Path = Path("/dev/termination-log")
    grace_seconds: float = 30.0
    total_steps: int | None = None

    @property
    def resuming(self) -> bool:
        return self.resume_step > 0

    @property
    def is_root(self) -> bool:
        return self.rank == 0

    @staticmethod
    def from_environ(environ: Mapping[str, str] | None = None) -> PhoenixEnv:
        env = os.environ if environ is None else environ
        resume = _int(env, ("PHOENIX_RESUME_STEP",), -1, minimum=-1)
        total = _int(env, ("PHOENIX_TOTAL_STEPS",), 0, minimum=0)
        out = PhoenixEnv(
            job_name=_str(env, ("PHOENIX_JOB_NAME",), "local") or "local",
            namespace=_str(env, ("PHOENIX_NAMESPACE",), "default") or "default",
            pod_name=_str(env, ("PHOENIX_POD_NAME", "HOSTNAME"), "local") or "local",
            job_uid=_str(env, ("PHOENIX_JOB_UID",), None),
            attempt=_int(env, ("PHOENIX_ATTEMPT",), 1, minimum=1),
            timeline=_str(env, ("PHOENIX_TIMELINE",), "t1") or "t1",
            rank=_int(env, ("PHOENIX_RANK", "RANK"), 0, minimum=0),
            world_size=_int(env, ("PHOENIX_WORLD_SIZE", "WORLD_SIZE"), 1, minimum=1),
            master_addr=_str(env, ("MASTER_ADDR",), "127.0.0.1") or "127.0.0.1",
            master_port=_int(env, ("MASTER_PORT",), 29500, minimum=1),
            checkpoint_dir=Path(_str(env, ("PHOENIX_CHECKPOINT_DIR",), "checkpoints") or "checkpoints"),
            checkpoint_interval=_int(env, ("PHOENIX_CHECKPOINT_INTERVAL",), 100, minimum=0),
            checkpoint_keep=_int(env, ("PHOENIX_CHECKPOINT_KEEP",), 3, minimum=0),
            resume_step=resume if resume > 0 else -1,
            resume_exact=_bool(env, ("PHOENIX_RESUME_EXACT",), True),
            report_configmap=_str(env, ("PHOENIX_REPORT_CONFIGMAP",), None),
            progress_interval_seconds=_float(env, ("PHOENIX_PROGRESS_INTERVAL_SECONDS",), 5.0),
            termination_log=Path(_str(env, ("PHOENIX_TERMINATION_LOG",), "/dev/termination-log") or "/dev/termination-log"),
            grace_seconds=_float(env, ("PHOENIX_GRACE_SECONDS",), 30.0),
            total_steps=total if total > 0 else None,
        )
        if out.rank >= out.world_size:
            raise ContractError(f"rank {out.rank} (PHOENIX_RANK/RANK) must be < world size {out.world_size} (PHOENIX_WORLD_SIZE/WORLD_SIZE)")
        if out.master_port > 65535:
            raise ContractError(f"MASTER_PORT={out.master_port} must be <= 65535")
        return out
