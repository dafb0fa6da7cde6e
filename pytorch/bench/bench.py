"""phoenix-torch benchmark, comparable with trainer-image's TrainerBenchmark (ND4J):

- matmul peak (best of several square float32 sizes), the training step of the same MLP
  (784-1024-1024-10, ReLU, softmax cross-entropy, AdamW lr=1e-3 wd=0.01, batch 256, float32) in
  steps/s and FLOP/s, compute only and including synthetic-data generation;
- sequential disk write + fsync and read, and phoenix-torch checkpoint save (DCP + fsync + SHA-256 +
  manifest + rename), verify (read + SHA-256) and load (verify + DCP read + bit check + apply) of the
  benchmark model and a larger one, each as a ratio to the matching disk figure.

    python pytorch/bench/bench.py --dir /tmp/phoenix-torch-bench [--threads 1] [--device cpu|cuda]

Not a test: it prints a table. Use the same --threads as the ND4J run (OMP_NUM_THREADS=1 there).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import time
from pathlib import Path

import torch
from torch import nn

from phoenix_torch import checkpoint
from phoenix_torch.examples.mlp import SyntheticData
from phoenix_torch.jsonutil import sha256_file
from phoenix_torch.state import TrainState
from phoenix_torch.store import CheckpointStore

ROWS: list[tuple[str, str, str, str]] = []


def row(what: str, value: str, ref: str = "", ratio: str = "") -> None:
    ROWS.append((what, value, ref, ratio))
    print(f"  {what}: {value} {ref} {ratio}", flush=True)


def build(inp: int, hidden: int, layers: int, classes: int) -> nn.Module:
    mods: list[nn.Module] = []
    d = inp
    for _ in range(layers):
        mods += [nn.Linear(d, hidden), nn.ReLU()]
        d = hidden
    mods.append(nn.Linear(d, classes))
    return nn.Sequential(*mods)


def step_flops(dims: list[int], batch: int) -> float:
    f = 0.0
    for i in range(len(dims) - 1):
        mm = 2.0 * batch * dims[i] * dims[i + 1]
        f += 2 * mm if i == 0 else 3 * mm  # forward + weight grads (+ input grads after layer 0)
    return f


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def matmul_peak(device: str) -> float:
    best = 0.0
    for n, reps in ((512, 60), (1024, 10), (2048, 3)):
        a = torch.randn(n, n, device=device)
        b = torch.randn(n, n, device=device)
        a @ b
        sync(device)
        t = []
        for _ in range(reps):
            t0 = time.perf_counter()
            a @ b
            sync(device)
            t.append(time.perf_counter() - t0)
        g = 2 * n ** 3 / min(t) / 1e9
        row(f"sgemm {n}x{n} (best of {reps})", f"{g:.1f} GFLOP/s")
        best = max(best, g)
    row("**matrix-multiply peak**", f"{best:.1f} GFLOP/s")
    return best


def train_bench(device: str, peak: float, steps: int) -> None:
    dims, batch = [784, 1024, 1024, 10], 256
    torch.manual_seed(0)
    model = build(784, 1024, 2, 10).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
    loss_fn = nn.CrossEntropyLoss()
    data = SyntheticData(42, 784, 10, batch, 0, 1)
    x0, y0 = data.next()
    x0, y0 = x0.to(device), y0.to(device)
    flops = step_flops(dims, batch)

    def one(with_data: bool) -> None:
        x, y = data.next() if with_data else (x0, y0)
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x.to(device)), y.to(device)).backward()
        opt.step()

    for with_data, label in ((True, "incl. data generation"), (False, "compute only (fwd+bwd+AdamW)")):
        for _ in range(5):
            one(with_data)
        sync(device)
        ts = []
        for _ in range(steps):
            t0 = time.perf_counter()
            one(with_data)
            sync(device)
            ts.append(time.perf_counter() - t0)
        for name, dt in (("mean", statistics.fmean(ts)), ("best step", min(ts))):
            g = flops / dt / 1e9
            row(f"training step 784-1024-1024-10 batch 256 {label} ({name})", f"{1 / dt:.2f} steps/s ({dt * 1e3:.1f} ms), {g:.1f} GFLOP/s",
                f"peak {peak:.1f} GFLOP/s", f"{100 * g / peak:.0f}%")
    t = []
    for _ in range(20):
        t0 = time.perf_counter()
        data.next()
        t.append(time.perf_counter() - t0)
    row("synthetic data generation alone (teacher net, 256 samples)", f"mean {statistics.fmean(t) * 1e3:.1f} ms, best {min(t) * 1e3:.1f} ms")


def disk_bench(d: Path, mib: int) -> tuple[float, float, float]:
    f = d / "disk.bin"
    block = os.urandom(1 << 20)
    t0 = time.perf_counter()
    with open(f, "wb") as out:
        for _ in range(mib):
            out.write(block)
        out.flush()
        os.fsync(out.fileno())
    w = mib * (1 << 20) / (time.perf_counter() - t0) / 1e6
    row(f"disk sequential write + fsync ({mib} MiB)", f"{w:.0f} MB/s")
    cold = -1.0
    try:
        fd = os.open(f, os.O_RDONLY | os.O_DIRECT)
        import mmap
        buf = mmap.mmap(-1, 1 << 20)
        t0 = time.perf_counter()
        while os.readv(fd, [buf]) > 0:
            pass
        cold = mib * (1 << 20) / (time.perf_counter() - t0) / 1e6
        os.close(fd)
        row("disk sequential read (O_DIRECT, bypasses the page cache)", f"{cold:.0f} MB/s")
    except OSError as e:
        row("disk sequential read (O_DIRECT)", f"refused ({e}); page cache NOT dropped")
    t0 = time.perf_counter()
    with open(f, "rb") as inp:
        while inp.read(1 << 20):
            pass
    hot = mib * (1 << 20) / (time.perf_counter() - t0) / 1e6
    row("file read through the page cache (hot)", f"{hot:.0f} MB/s")
    t0 = time.perf_counter()
    sha256_file(f)
    row("SHA-256 (hashlib, one core)", f"{mib * (1 << 20) / (time.perf_counter() - t0) / 1e6:.0f} MB/s")
    f.unlink()
    return w, cold if cold > 0 else hot, hot


def checkpoint_bench(d: Path, hidden: int, device: str, disk: tuple[float, float, float]) -> None:
    write, cold, hot = disk
    torch.manual_seed(0)
    model = build(784, hidden, 2, 10).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    x, y = torch.randn(256, 784, device=device), torch.randint(0, 10, (256,), device=device)
    nn.functional.cross_entropy(model(x), y).backward()
    opt.step()
    ts = TrainState(model, opt)
    root = d / f"ckpt-{hidden}"
    shutil.rmtree(root, ignore_errors=True)
    store = CheckpointStore(root)
    saves, verifies, loads = [], [], []
    size = 0
    for i in range(3):
        s = checkpoint.save(store, ts, i + 1, attempt=1, timeline="bench")
        saves.append(s.seconds)
        size = s.bytes
        v = checkpoint.verify(store, i + 1)
        verifies.append(v.seconds)
        t0 = time.perf_counter()
        checkpoint.load(store, ts, i + 1)
        loads.append(time.perf_counter() - t0)
    mb = size / 1e6
    label = f"checkpoint 784-{hidden}-{hidden}-10 ({mb:.1f} MB)"
    for what, ts_, ref, refname in ((" save (DCP write+fsync+SHA-256+manifest+rename)", saves, write, "disk write"),
                                    (" verify (read+SHA-256, page cache hot)", verifies, hot, "hot read"),
                                    (" load (verify+DCP read+bit check+apply, page cache hot)", loads, cold, "cold disk read")):
        t = min(ts_)
        row(label + what, f"{t:.3f} s, {mb / t:.0f} MB/s", f"{refname} {ref:.0f} MB/s", f"{100 * mb / t / ref:.0f}%")
    shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dir", type=Path, default=Path("/tmp/phoenix-torch-bench"))
    p.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "1")))
    p.add_argument("--device", default="cpu")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--disk-mib", type=int, default=512)
    p.add_argument("--large-hidden", type=int, default=4096)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    a.dir.mkdir(parents=True, exist_ok=True)
    print(f"torch {torch.__version__}, device {a.device}, {a.threads} thread(s), dir {a.dir}", flush=True)
    peak = matmul_peak(a.device)
    train_bench(a.device, peak, a.steps)
    disk = disk_bench(a.dir, a.disk_mib)
    checkpoint_bench(a.dir, 1024, a.device, disk)
    if a.large_hidden:
        checkpoint_bench(a.dir, a.large_hidden, a.device, disk)
    print("\n| measurement | value | reference | ratio |\n|---|---|---|---|")
    for r in ROWS:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
