"""Termination messages and exit codes of docs/contract.md."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from .jsonutil import canonical

log = logging.getLogger(__name__)

SUCCEEDED = 0
FAILED = 1
BAD_USAGE = 2
CHECKPOINT_INVALID = 65
TERMINATED = 143

# Kubernetes keeps at most 4096 bytes of a termination message.
MAX_MESSAGE = 3000


def message(result: str, step: int | None = None, **fields: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"result": result}
    if step is not None:
        out["step"] = step
    for k, v in fields.items():
        if v is None:
            continue
        if k == "message" and isinstance(v, str) and len(v) > MAX_MESSAGE:
            v = v[:MAX_MESSAGE] + "…"
        out[k] = v
    return out


def write(path: Path, body: dict[str, Any]) -> None:
    """Writes the message; the default /dev/termination-log only if it exists (outside a pod it does not)."""
    text = canonical(body)
    if str(path) == "/dev/termination-log" and not path.exists():
        log.info("termination message (no %s): %s", path, text)
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        log.info("termination message: %s", text)
    except OSError as e:
        log.warning("cannot write termination message to %s: %s", path, e)
