"""The full training state as one flat dict of canonical keys.

A checkpoint holds, under keys that never depend on how the model is wrapped:

- ``model.<fqn>``            parameters and buffers (``get_model_state_dict``: no ``module.`` of DDP,
                             no ``_orig_mod.`` of ``torch.compile``, no FSDP / activation-checkpoint
                             wrapper segments)
- ``optim.<...>``            optimizer state keyed by parameter FQN (``get_optimizer_state_dict``),
                             not by the parameter's position, so the key set is stable too
- ``scheduler.<...>``        the LR scheduler's ``state_dict()``
- ``extra.<name>.<...>``     further ``Stateful`` objects the trainer registers (shared by all ranks)
- ``rank<r>.data.<...>``     each rank's data-loader position (ranks read different shards)
- ``rank<r>.rng.<...>``      each rank's RNG states: torch CPU, CUDA (when present) and Python ``random``
- ``step``                   the optimizer step the state belongs to

Values are tensors or plain JSON values (numbers, strings, lists of them). Flattening is done here,
not by DCP, so the key DCP stores is exactly the key the manifest lists.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import torch
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_optimizer_state_dict,
    set_model_state_dict,
    set_optimizer_state_dict,
)

from .jsonutil import canonical

# Wrapper segments that are never part of a user's module names: torch.compile's OptimizedModule,
# FSDP1's FlatParameter wrapper and the activation-checkpoint wrapper.
WRAPPER_SEGMENTS = ("_orig_mod", "_fsdp_wrapped_module", "_checkpoint_wrapped_module")
RANK_KEY = re.compile(r"rank(\d+)\.(.+)")

Leaf = Any  # torch.Tensor or a JSON value


@runtime_checkable
class Stateful(Protocol):
    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state_dict: dict[str, Any]) -> None: ...


class StateError(ValueError):
    """The state cannot be flattened or applied (the message names the key)."""


def canonical_name(fqn: str) -> str:
    return ".".join(s for s in fqn.split(".") if s not in WRAPPER_SEGMENTS)


def _contains_container(v: Any) -> bool:
    return isinstance(v, Mapping) or (isinstance(v, (list, tuple)) and any(
        isinstance(x, (Mapping, list, tuple, torch.Tensor)) for x in v))


def flatten(prefix: str, value: Any, out: dict[str, Leaf]) -> None:
    """Dicts (and lists holding dicts or tensors) become dotted keys; other values are leaves."""
    if isinstance(value, Mapping):
        for k, v in value.items():
            if not isinstance(k, (str, int)):
                raise StateError(f"{prefix}: key {k!r} is neither a string nor an integer")
            flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    elif isinstance(value, (list, tuple)) and _contains_container(value):
        for i, v in enumerate(value):
            flatten(f"{prefix}.{i}", v, out)
    else:
        if prefix in out:
            raise StateError(f"{prefix}: two values flatten to the same key")
        if not isinstance(value, torch.Tensor):
            try:
                canonical(value)
            except (TypeError, ValueError) as e:
                raise StateError(f"{prefix}: value {value!r} is neither a tensor nor JSON ({e})") from None
        out[prefix] = value


def unflatten_like(prefix: str, template: Any, flat: Mapping[str, Leaf]) -> Any:
    """Rebuilds ``template``'s structure with the leaves from ``flat``."""
    if isinstance(template, Mapping):
        return {k: unflatten_like(f"{prefix}.{k}" if prefix else str(k), v, flat) for k, v in template.items()}
    if isinstance(template, (list, tuple)) and _contains_container(template):
        items = [unflatten_like(f"{prefix}.{i}", v, flat) for i, v in enumerate(template)]
        return type(template)(items) if isinstance(template, tuple) else items
    value = flat[prefix]
    if isinstance(template, tuple) and isinstance(value, list):
        return tuple(value)
    return value


def json_value(v: Any) -> Any:
    """A leaf as it reads back from JSON (tuples become lists)."""
    if isinstance(v, (list, tuple)):
        return [json_value(x) for x in v]
    return v


def tensor_bytes(t: torch.Tensor) -> bytes:
    """The tensor's values in C order, native (little-endian) byte order, from the CPU."""
    c = t.detach()
    if hasattr(c, "full_tensor"):  # DTensor: the logical, unsharded values
        c = c.full_tensor()
    c = c.to("cpu").contiguous().reshape(-1)
    if c.dtype == torch.bool:
        c = c.to(torch.uint8)
    return c.view(torch.uint8).numpy().tobytes()


def dtype_name(t: torch.Tensor) -> str:
    return str(t.dtype).removeprefix("torch.")


@dataclass(frozen=True)
class TensorEntry:
    name: str
    dtype: str
    shape: list[int]
    sha256: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "shape": self.shape, "sha256": self.sha256}


def describe(flat: Mapping[str, Leaf]) -> tuple[list[TensorEntry], dict[str, Any]]:
    """Per-tensor (name, dtype, shape, SHA-256 of bytes) and the non-tensor leaves as JSON values."""
    tensors: list[TensorEntry] = []
    values: dict[str, Any] = {}
    for k in sorted(flat):
        v = flat[k]
        if isinstance(v, torch.Tensor):
            tensors.append(TensorEntry(k, dtype_name(v), list(v.shape), hashlib.sha256(tensor_bytes(v)).hexdigest()))
        else:
            values[k] = json_value(v)
    return tensors, values


def state_digest(tensors: list[TensorEntry], values: Mapping[str, Any]) -> str:
    """SHA-256 of the training state alone (the Java ``StateDigest`` recipe): every tensor's name, dtype,
    shape and SHA-256 sorted by name, then the canonical JSON of the non-tensor state. Nothing of attempt,
    timeline or time: bit-identical states have the same digest."""
    h = hashlib.sha256(b"phoenix-state-v1\n")
    for t in sorted(tensors, key=lambda e: e.name):
        h.update(f"{t.name}\t{t.dtype}\t{t.shape}\t{t.sha256}\n".encode())
    h.update(canonical(dict(values)).encode())
    return "sha256:" + h.hexdigest()


def _rng_state() -> dict[str, Any]:
    version, internal, gauss = random.getstate()
    out: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": torch.tensor(list(internal), dtype=torch.int64),
        "python_version": version,
        "python_gauss": gauss,
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        out["cuda"] = torch.cuda.get_rng_state()
    return out


def _set_rng_state(state: Mapping[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate((int(state["python_version"]), tuple(int(x) for x in state["python"].tolist()), state["python_gauss"]))
    if "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"])


class TrainState:
    """The objects whose state makes up a checkpoint, and how to read and apply it."""

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None = None,
                 scheduler: Any | None = None, data: Stateful | None = None,
                 extra: Mapping[str, Stateful] | None = None, rank: int = 0) -> None:
        self.model = model
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.data = data
        self.extra = dict(extra or {})
        self.rank = rank

    def _sections(self, step: int) -> dict[str, Any]:
        opts = StateDictOptions(full_state_dict=False, cpu_offload=False)
        model_sd = {canonical_name(k): v for k, v in get_model_state_dict(self.model, options=opts).items()}
        sections: dict[str, Any] = {"step": step, "model": model_sd}
        if self.optimizer is not None:
            osd = get_optimizer_state_dict(self.model, self.optimizer, options=opts)
            sections["optim"] = _canonical_optim(osd)
        if self.scheduler is not None:
            sections["scheduler"] = self.scheduler.state_dict()
        for name, obj in self.extra.items():
            sections.setdefault("extra", {})[name] = obj.state_dict()
        local: dict[str, Any] = {"rng": _rng_state()}
        if self.data is not None:
            local["data"] = self.data.state_dict()
        sections[f"rank{self.rank}"] = local
        return sections

    def flat(self, step: int) -> dict[str, Leaf]:
        out: dict[str, Leaf] = {}
        flatten("", self._sections(step), out)
        return out

    def apply(self, flat: Mapping[str, Leaf], step: int) -> None:
        """Puts a loaded, verified flat state into the objects (strictly: every key is used)."""
        template = self._sections(step)
        tree = unflatten_like("", template, flat)
        opts = StateDictOptions(full_state_dict=False, strict=True)
        model_sd = dict(tree["model"])
        # set_model_state_dict maps canonical FQNs back to the wrapped module itself.
        set_model_state_dict(self.model, model_sd, options=opts)
        if self.optimizer is not None:
            set_optimizer_state_dict(self.model, self.optimizer, _restore_optim(tree["optim"], template["optim"]), options=opts)
        if self.scheduler is not None:
            self.scheduler.load_state_dict(tree["scheduler"])
        for name, obj in self.extra.items():
            obj.load_state_dict(tree["extra"][name])
        local = tree[f"rank{self.rank}"]
        if self.data is not None:
            self.data.load_state_dict(local["data"])
        _set_rng_state(local["rng"])


def _canonical_optim(osd: Mapping[str, Any]) -> dict[str, Any]:
    state = {canonical_name(k): v for k, v in osd.get("state", {}).items()}
    groups = []
    for g in osd.get("param_groups", []):
        g2 = dict(g)
        g2["params"] = [canonical_name(p) for p in g.get("params", [])]
        groups.append(g2)
    return {"state": state, "param_groups": groups}


def _restore_optim(loaded: Mapping[str, Any], template: Mapping[str, Any]) -> dict[str, Any]:
    # The canonical names are what get_optimizer_state_dict produced for this very model (wrapper
    # segments only removed), and set_optimizer_state_dict accepts canonical FQNs.
    return {"state": dict(loaded["state"]), "param_groups": [dict(g) for g in loaded["param_groups"]]}


def expected_global_keys(local_keys: set[str], world_size: int) -> set[str]:
    """This rank's flat keys, with its ``rank<r>.`` section repeated for every rank of the gang."""
    out: set[str] = set()
    for k in local_keys:
        m = RANK_KEY.fullmatch(k)
        if m:
            out.update(f"rank{r}.{m.group(2)}" for r in range(world_size))
        else:
            out.add(k)
    return out


def empty_like_flat(flat: Mapping[str, Leaf]) -> dict[str, Leaf]:
    """Fresh destination buffers, so a failed or partial read never touches the live model."""
    out: dict[str, Leaf] = {}
    for k, v in flat.items():
        out[k] = torch.empty_like(v) if isinstance(v, torch.Tensor) else v
    return out


Hook = Callable[[], None]
