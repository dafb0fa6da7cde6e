"""torch.distributed from the pod contract, and the few collectives the checkpoint code needs."""

from __future__ import annotations

import logging
import os
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist

from .env import PhoenixEnv

log = logging.getLogger(__name__)


def init_distributed(env: PhoenixEnv, backend: str | None = None, timeout_seconds: float = 300.0) -> str | None:
    """Joins the gang with ``env://`` rendezvous on MASTER_ADDR:MASTER_PORT (NCCL on GPU, gloo on CPU).

    A world of one needs no process group: returns None and DCP runs without one.
    """
    if env.world_size <= 1 or dist.is_initialized():
        return dist.get_backend() if dist.is_initialized() else None
    chosen = backend or ("nccl" if torch.cuda.is_available() else "gloo")
    os.environ.setdefault("MASTER_ADDR", env.master_addr)
    os.environ.setdefault("MASTER_PORT", str(env.master_port))
    os.environ["RANK"] = str(env.rank)
    os.environ["WORLD_SIZE"] = str(env.world_size)
    if chosen == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(chosen, init_method="env://", rank=env.rank, world_size=env.world_size,
                            timeout=timedelta(seconds=timeout_seconds))
    log.info("joined gang: rank %d of %d, backend %s, master %s:%s", env.rank, env.world_size, chosen,
             os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"])
    return chosen


def active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def broadcast(obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank."""
    if not active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather(obj: Any) -> list[Any]:
    """Every rank's ``obj``, in rank order, on every rank."""
    if not active():
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def any_true(flag: bool) -> bool:
    """True on every rank if it is true on any rank (used for the agreed stop after a step)."""
    if not active():
        return flag
    t = torch.tensor([1 if flag else 0], dtype=torch.int32,
                     device="cuda" if dist.get_backend() == "nccl" else "cpu")
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())
