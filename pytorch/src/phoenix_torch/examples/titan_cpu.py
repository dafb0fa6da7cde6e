"""Runs TorchTitan's own ``torchtitan.train`` on a machine without a GPU.

TorchTitan 0.3.0 picks its device with ``_get_available_device_type() or "cuda"`` at import
(``torchtitan/tools/utils.py``), so on a CPU-only machine its Trainer fails before training::

    torchtitan/trainer.py, line 301, in __init__: device_module.set_device(self.device)
    RuntimeError: Found no NVIDIA driver on your system. ...

This launcher changes only that choice (device type ``cpu``, and ``torch.cpu`` completed with the
few memory-statistics calls TorchTitan's metrics make, answering zeros) before TorchTitan is imported further, then calls ``torchtitan.train.main()`` with the same arguments. Training loop,
config system, DCP checkpointer, ``--checkpoint.load_step`` and the checkpoint layout are TorchTitan's.
On a GPU machine run ``python -m torchtitan.train`` itself.
"""

from __future__ import annotations

import types
from collections import namedtuple
from typing import Any

import torch

_Props = namedtuple("_Props", "name total_memory")


def cpu_device_module() -> types.ModuleType:
    m = types.ModuleType("phoenix_cpu_device")
    m.__dict__.update({k: getattr(torch.cpu, k) for k in dir(torch.cpu) if not k.startswith("__")})

    def stats(*_a: Any, **_k: Any) -> dict[str, int]:
        return {}

    m.set_device = lambda *_a, **_k: None  # type: ignore[attr-defined]
    m.current_device = lambda: 0  # type: ignore[attr-defined]
    m.device_count = lambda: 1  # type: ignore[attr-defined]
    m.get_device_name = lambda *_a: "cpu"  # type: ignore[attr-defined]
    m.get_device_properties = lambda *_a: _Props("cpu", 1)  # type: ignore[attr-defined]
    m.reset_peak_memory_stats = lambda *_a: None  # type: ignore[attr-defined]
    m.empty_cache = lambda: None  # type: ignore[attr-defined]
    m.memory_stats = stats  # type: ignore[attr-defined]
    m.synchronize = lambda *_a: None  # type: ignore[attr-defined]
    return m


def main() -> None:
    import torchtitan.tools.utils as tu

    if not torch.cuda.is_available():
        tu.device_type, tu.device_module = "cpu", cpu_device_module()
    from torchtitan.train import main as titan_main

    titan_main()


if __name__ == "__main__":
    main()
