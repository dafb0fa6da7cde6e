"""In-process: save → load is bit-exact, keys are canonical whatever wraps the model."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from phoenix_torch import checkpoint
from phoenix_torch.examples.mlp import Mlp, SyntheticData, warmup_cosine
from phoenix_torch.state import TrainState
from phoenix_torch.store import CheckpointStore


def make(seed: int = 1, compile: bool = False, wrap: str = "", hidden: int = 16) -> tuple[TrainState, nn.Module, SyntheticData]:
    torch.manual_seed(seed)
    model = Mlp(8, hidden, 2, 3, 0.1)
    wrapped: nn.Module = model
    if wrap == "checkpoint":
        from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import checkpoint_wrapper
        model.layers[0] = checkpoint_wrapper(model.layers[0])  # type: ignore[index]
    if compile:
        wrapped = torch.compile(model)  # type: ignore[assignment]
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(1e-2, 1e-3, 3, 20))
    data = SyntheticData(seed, 8, 3, 8, 0, 1)
    return TrainState(wrapped, opt, sched, data), wrapped, data


def train(ts: TrainState, model: nn.Module, data: SyntheticData, n: int) -> None:
    assert ts.optimizer is not None and ts.scheduler is not None
    for _ in range(n):
        x, y = data.next()
        ts.optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        ts.optimizer.step()
        ts.scheduler.step()


def snapshot(ts: TrainState, step: int) -> dict[str, object]:
    return {k: (v.clone() if isinstance(v, torch.Tensor) else v) for k, v in ts.flat(step).items()}


def assert_same(a: dict[str, object], b: dict[str, object]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        va, vb = a[k], b[k]
        if isinstance(va, torch.Tensor):
            assert isinstance(vb, torch.Tensor) and va.dtype == vb.dtype and va.shape == vb.shape, k
            assert torch.equal(va.view(-1).view(torch.uint8) if va.dtype != torch.bool else va,
                               vb.view(-1).view(torch.uint8) if vb.dtype != torch.bool else vb), k
        else:
            assert va == vb, k


def test_save_load_is_bit_exact_and_training_continues_identically(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    ts, model, data = make()
    train(ts, model, data, 5)
    before = snapshot(ts, 5)
    saved = checkpoint.save(store, ts, 5, attempt=1, timeline="t1")
    assert (tmp_path / "step-0000000005" / "manifest.json").is_file()
    assert any(t["name"].startswith("optim.state.") and "exp_avg" in t["name"] for t in saved.manifest["tensors"])

    ts2, model2, data2 = make(seed=1)
    train(ts2, model2, data2, 1)  # perturb: everything must be overwritten by the load
    loaded = checkpoint.load(store, ts2, 5)
    assert loaded.digest == saved.digest
    assert_same(before, snapshot(ts2, 5))
    resaved = checkpoint.save(CheckpointStore(tmp_path / "again"), ts2, 5, attempt=1, timeline="t1")
    assert resaved.state_digest == saved.state_digest

    # One process, one global RNG: both continue from the RNG state the checkpoint restored.
    rng = torch.get_rng_state()
    train(ts, model, data, 4)
    torch.set_rng_state(rng)
    train(ts2, model2, data2, 4)
    assert_same(snapshot(ts, 9), snapshot(ts2, 9))


def test_keys_are_canonical_under_compile_and_activation_checkpointing(tmp_path: Path) -> None:
    plain, m1, d1 = make()
    train(plain, m1, d1, 1)
    compiled, m2, d2 = make(compile=True)
    train(compiled, m2, d2, 1)
    ac, m3, d3 = make(wrap="checkpoint")
    train(ac, m3, d3, 1)
    keys = set(plain.flat(1))
    assert keys == set(compiled.flat(1)) == set(ac.flat(1))
    assert "model.layers.0.weight" in keys
    assert not any(s in k for k in keys for s in ("_orig_mod", "_checkpoint_wrapped_module", "module."))
    # a checkpoint of the compiled model loads into the eager one and vice versa
    checkpoint.save(CheckpointStore(tmp_path / "c"), compiled, 1, attempt=1, timeline="t1")
    checkpoint.load(CheckpointStore(tmp_path / "c"), plain, 1)
    checkpoint.save(CheckpointStore(tmp_path / "p"), plain, 1, attempt=1, timeline="t1")
    checkpoint.load(CheckpointStore(tmp_path / "p"), ac, 1)


def test_keys_are_canonical_under_ddp(tmp_path: Path) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rdzv'}", rank=0, world_size=1)
    try:
        plain, m1, d1 = make()
        ddp_model = nn.parallel.DistributedDataParallel(plain.model)
        ts = TrainState(ddp_model, plain.optimizer, plain.scheduler, plain.data)
        train(ts, ddp_model, d1, 1)
        keys = set(ts.flat(1))
        assert "model.layers.0.weight" in keys and not any(k.startswith("model.module.") for k in keys)
        ref, m2, d2 = make()
        train(ref, m2, d2, 1)
        assert keys == set(ref.flat(1))
    finally:
        dist.destroy_process_group()
