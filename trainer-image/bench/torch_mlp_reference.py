"""PyTorch reference for the trainer's benchmark model: same MLP (784-1024-1024-10, ReLU, softmax
cross-entropy), AdamW(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01), batch 256, float32.
Prints steps/s of the compute-only step (data already on the device), with TF32 off (plain FP32, as
ND4J's sgemm) and on. Usage: python3 torch_mlp_reference.py [--steps 1000] [--device cuda|cpu]"""
import argparse
import time

import torch
import torch.nn as nn


def build(inp, hidden, layers, classes):
    mods, d = [], inp
    for _ in range(layers):
        mods += [nn.Linear(d, hidden), nn.ReLU()]
        d = hidden
    mods.append(nn.Linear(d, classes))
    return nn.Sequential(*mods)


def bench(device, steps, tf32, inp=784, hidden=1024, layers=2, classes=10, batch=256):
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.manual_seed(0)
    model = build(inp, hidden, layers, classes).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
    x = torch.randn(batch, inp, device=device)
    y = torch.randint(0, classes, (batch,), device=device)
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    for _ in range(50):
        step()
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    sync()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    dt = (time.perf_counter() - t0) / steps
    flops = 0.0
    dims = [inp] + [hidden] * layers + [classes]
    for i in range(len(dims) - 1):
        mm = 2.0 * batch * dims[i] * dims[i + 1]
        flops += 2 * mm if i == 0 else 3 * mm
    return dt, flops / dt


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    a = ap.parse_args()
    print("torch", torch.__version__, "cuda", torch.version.cuda, "device", a.device,
          torch.cuda.get_device_name(0) if a.device == "cuda" else "")
    for tf32 in (False, True):
        dt, f = bench(a.device, a.steps, tf32)
        print(f"784-1024-1024-10 batch 256 AdamW fp32 tf32={tf32}: {1 / dt:.1f} steps/s ({dt * 1e3:.3f} ms/step), {f / 1e9:.1f} GFLOP/s")
