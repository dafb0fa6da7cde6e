"""A trainer that checkpoints exactly as TorchTitan does, with TorchTitan's own components, on a CPU.

TorchTitan 0.3.0's ``torchtitan.train`` cannot train its debug model without a GPU (see the README:
its device choice defaults to CUDA, and both attention backends of the llama3 debug model, FlexAttention
and varlen, have no CPU backward/forward). This program keeps everything checkpoint-related TorchTitan's:
``torchtitan.components.checkpoint.CheckpointManager`` (DCP save into ``<folder>/step-<N>``,
``--checkpoint.load_step`` with ``-1`` = latest, ``keep_latest_k`` purging), TorchTitan's
``OptimizersContainer`` (AdamW) and ``LRSchedulersContainer`` (warm-up + linear decay), and a
``train_state`` with ``step``, as ``torchtitan.trainer.Trainer`` registers it. Only the model (a small
MLP) and its data (seeded, synthetic) are ours. It does not use phoenix_torch's library: the Phoenix
side is the agent, as for an unmodified TorchTitan.

    python -m phoenix_torch.examples.titan_layout --checkpoint.folder /ckpt --checkpoint.interval 5 \
        --training.steps 20 --checkpoint.load_step -1

Prints ``final step N params sha256:…`` (a digest of the model parameters) at the end.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import signal
import socket
import sys
from types import FrameType
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from .mlp import Mlp, SyntheticData


class TrainState:
    def __init__(self) -> None:
        self.step = 0

    def state_dict(self) -> dict[str, Any]:
        return {"step": self.step}

    def load_state_dict(self, sd: dict[str, Any]) -> None:
        self.step = int(sd["step"])


class DataState:
    """TorchTitan checkpoints its dataloader (a Stateful); ours is a position in a seeded stream."""

    def __init__(self, data: SyntheticData) -> None:
        self.data = data

    def state_dict(self) -> dict[str, Any]:
        return {"position": self.data.position}

    def load_state_dict(self, sd: dict[str, Any]) -> None:
        self.data.position = int(sd["position"])


def params_digest(model: nn.Module) -> str:
    h = hashlib.sha256()
    for k, v in sorted(model.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return "sha256:" + h.hexdigest()


def _init_process_group() -> None:
    """TorchTitan's trainer always runs in a process group (torchrun), and its CheckpointManager asks for
    the rank (``dist.get_rank()``) before purging beyond ``keep_latest_k``: join one, over gloo, from the
    pod contract's ``MASTER_ADDR``/``MASTER_PORT``/``RANK``/``WORLD_SIZE`` (a free local port when run by
    hand)."""
    if dist.is_initialized():
        return
    if "MASTER_PORT" not in os.environ:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            os.environ["MASTER_PORT"] = str(s.getsockname()[1])
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    dist.init_process_group("gloo", init_method="env://", rank=int(os.environ.get("RANK", "0")),
                            world_size=int(os.environ.get("WORLD_SIZE", "1")))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m phoenix_torch.examples.titan_layout", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint.folder", dest="folder", required=True)
    p.add_argument("--checkpoint.interval", dest="interval", type=int, default=5)
    p.add_argument("--checkpoint.keep_latest_k", dest="keep", type=int, default=0)
    p.add_argument("--checkpoint.load_step", dest="load_step", type=int, default=-1)
    p.add_argument("--training.steps", dest="steps", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--step-sleep-ms", type=int, default=0)
    a = p.parse_args(argv)
    _init_process_group()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from torchtitan.components.checkpoint import CheckpointManager
    from torchtitan.components.optimizer import LRSchedulersContainer, default_adamw

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    torch.manual_seed(a.seed)
    model = Mlp(16, 32, 2, 4, 0.0)
    optimizers = default_adamw(lr=3e-3).build(model_parts=[model])
    schedulers = LRSchedulersContainer.Config(warmup_steps=2, decay_ratio=0.8, decay_type="linear",
                                              min_lr_factor=0.0).build(optimizers=optimizers, training_steps=a.steps)
    data = SyntheticData(a.seed, 16, 4, 16, 0, 1)
    train_state = TrainState()
    ckpt = CheckpointManager.Config(enable=True, folder=a.folder, interval=a.interval, keep_latest_k=a.keep,
                                    load_step=a.load_step, last_save_model_only=False).build(
        dataloader=DataState(data), model_parts=[model], optimizers=optimizers, lr_schedulers=schedulers,
        states={"train_state": train_state}, sd_adapter=None)
    stop = {"now": False}

    def on_term(_s: int, _f: FrameType | None) -> None:
        stop["now"] = True  # TorchTitan has no emergency checkpoint: it just stops
    signal.signal(signal.SIGTERM, on_term)

    ckpt.load(step=a.load_step)
    print(f"loaded step {train_state.step}", flush=True)
    loss_fn = nn.CrossEntropyLoss()
    while train_state.step < a.steps and not stop["now"]:
        train_state.step += 1
        x, y = data.next()
        optimizers.zero_grad()
        loss_fn(model(x), y).backward()
        optimizers.step()
        schedulers.step()
        ckpt.save(train_state.step, last_step=train_state.step == a.steps)
        if a.step_sleep_ms:
            import time
            time.sleep(a.step_sleep_ms / 1000)
    ckpt.close()
    dist.destroy_process_group()
    if stop["now"]:
        print(f"stopped at step {train_state.step}", flush=True)
        sys.exit(143)
    print(f"final step {train_state.step} params {params_digest(model)}", flush=True)


if __name__ == "__main__":
    main()
