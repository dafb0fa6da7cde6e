"""Example trainer: a ReLU MLP with dropout, AdamW and a warm-up + cosine LR schedule on synthetic,
seeded data (labels from a fixed random "teacher" network, so the loss falls), under Phoenix.

    PHOENIX_CHECKPOINT_DIR=/tmp/ckpt python -m phoenix_torch.examples.mlp --steps 200 --checkpoint-interval 50

The batch of step ``s`` is a pure function of ``(seed, s)`` and each rank takes its contiguous rows of
the global batch, so the data position is the only data state; dropout draws from torch's global RNG,
which the checkpoint saves per rank. Gradients are averaged with DDP over gloo (CPU) or NCCL (GPU).
"""

from __future__ import annotations

import argparse
import logging
import math
import random
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .. import distutil
from ..env import PhoenixEnv
from ..session import Phoenix
from ..state import TrainState


class Mlp(nn.Module):
    def __init__(self, input: int, hidden: int, layers: int, classes: int, dropout: float) -> None:
        super().__init__()
        dims = [input] + [hidden] * layers
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims, dims[1:]))
        self.head = nn.Linear(dims[-1], classes)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = self.dropout(torch.relu(layer(x)))
        out: torch.Tensor = self.head(x)
        return out


class SyntheticData:
    """Batches from (seed, step): Gaussian inputs, labels = argmax of a fixed random teacher MLP."""

    def __init__(self, seed: int, input: int, classes: int, global_batch: int, rank: int, world: int) -> None:
        self.seed, self.input, self.classes, self.global_batch = seed, input, classes, global_batch
        self.rank, self.world = rank, world
        self.position = 0
        g = torch.Generator().manual_seed(seed * 7919 + 1)
        self.t1 = torch.randn(input, 64, generator=g) / math.sqrt(input)
        self.t2 = torch.randn(64, classes, generator=g) / 8.0

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.position)
        x = torch.randn(self.global_batch, self.input, generator=g)
        y = torch.argmax(torch.tanh(x @ self.t1) @ self.t2, dim=1)
        per = self.global_batch // self.world
        lo = self.rank * per
        self.position += 1
        return x[lo:lo + per], y[lo:lo + per]

    def state_dict(self) -> dict[str, Any]:
        return {"generator": "teacher-mlp-torch-v1", "seed": self.seed, "position": self.position,
                "globalBatch": self.global_batch}

    def load_state_dict(self, sd: dict[str, Any]) -> None:
        if sd["seed"] != self.seed or sd["globalBatch"] != self.global_batch:
            raise ValueError(f"data state {sd} does not match --seed {self.seed} --batch {self.global_batch}")
        self.position = int(sd["position"])


def warmup_cosine(base: float, minimum: float, warmup: int, total: int) -> Any:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        t = min(1.0, (step - warmup) / max(1, total - warmup))
        return (minimum + (base - minimum) * 0.5 * (1 + math.cos(math.pi * t))) / base
    return factor


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m phoenix_torch.examples.mlp", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=None, help="total optimizer steps (default PHOENIX_TOTAL_STEPS or 1000)")
    p.add_argument("--checkpoint-dir", type=Path, help="overrides PHOENIX_CHECKPOINT_DIR")
    p.add_argument("--checkpoint-interval", type=int, help="overrides PHOENIX_CHECKPOINT_INTERVAL")
    p.add_argument("--seed", type=int, default=int(os.environ.get("PHOENIX_SEED", "42")))
    p.add_argument("--input", type=int, default=64)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--batch", type=int, default=128, help="global batch, split into contiguous rows across ranks")
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--min-lr", type=float, default=3e-4)
    p.add_argument("--warmup-steps", type=int, default=20)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--compile", action="store_true", help="torch.compile the model (keys stay canonical)")
    p.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "1")))
    p.add_argument("--step-sleep-ms", type=int, default=int(os.environ.get("PHOENIX_STEP_SLEEP_MS", "0")))
    p.add_argument("--stop-at-step", type=int, default=-1, help="tests: behave as if SIGTERM arrived during this step")
    return p.parse_args(argv)


def run(argv: list[str] | None = None) -> int:
    a = parse(argv)
    env = PhoenixEnv.from_environ()
    if a.checkpoint_dir is not None:
        env = replace(env, checkpoint_dir=a.checkpoint_dir)
    if a.checkpoint_interval is not None:
        env = replace(env, checkpoint_interval=a.checkpoint_interval)
    steps = a.steps or env.total_steps or 1000
    if a.batch % env.world_size:
        raise ValueError(f"--batch {a.batch} must be divisible by the world size {env.world_size}")
    torch.set_num_threads(a.threads)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(a.seed)
    random.seed(a.seed)  # saved in every checkpoint: unseeded, two fresh runs would differ in it
    model = Mlp(a.input, a.hidden, a.layers, a.classes, a.dropout)
    distutil.init_distributed(env)
    wrapped: nn.Module = model
    if distutil.active():
        wrapped = nn.parallel.DistributedDataParallel(model)
    if a.compile:
        wrapped = torch.compile(wrapped)  # type: ignore[assignment]
    decay = [p for n, p in model.named_parameters() if n.endswith("weight")]
    no_decay = [p for n, p in model.named_parameters() if not n.endswith("weight")]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.999), eps=1e-8)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(a.lr, a.min_lr, a.warmup_steps, steps))
    data = SyntheticData(a.seed, a.input, a.classes, a.batch, env.rank, env.world_size)
    px = Phoenix(TrainState(wrapped, opt, sched, data), env, total_steps=steps, stop_at_step=a.stop_at_step)
    step = px.start()
    loss_fn = nn.CrossEntropyLoss()
    log = logging.getLogger("mlp")
    t_last, s_last = time.monotonic(), step
    while step < steps:
        x, y = data.next()
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(wrapped(x), y)
        loss.backward()
        opt.step()
        sched.step()
        step += 1
        now = time.monotonic()
        if now - t_last >= 5 or step == steps or step == s_last + 1:
            log.info("step %d/%d loss %.4f lr %.2e %.2f steps/s", step, steps, loss.item(), sched.get_last_lr()[0],
                     (step - s_last) / max(1e-9, now - t_last))
            t_last, s_last = now, step
        if px.step_done(step):
            break
        if a.step_sleep_ms:
            time.sleep(a.step_sleep_ms / 1000)
    return px.finish(step)


def main() -> None:
    logging.basicConfig(level=os.environ.get("PHOENIX_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    Phoenix.main(run)


if __name__ == "__main__":
    main()
