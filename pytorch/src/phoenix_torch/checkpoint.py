"""Saving and strictly loading full-state checkpoints with torch.distributed.checkpoint (DCP).

A checkpoint directory ``step-<N>/`` holds DCP's own files (``.metadata`` and ``__<rank>_0.distcp``)
and Phoenix's ``manifest.json``, written last:

``formatVersion``, ``format``, ``step``, ``attempt``, ``timeline``, ``jobUid``, ``createdAt``,
``worldSize``, ``backend``, ``stateDigest``, ``files`` (every file with its length and SHA-256),
``tensors`` (every tensor's canonical name, dtype, shape and the SHA-256 of its bytes) and ``state``
(every non-tensor value by key).

Commit protocol (the Java ``CheckpointWriter``'s): DCP writes into ``step-N.tmp-<random>/`` and
fsyncs each file; rank 0 hashes every file, writes and fsyncs ``manifest.json``, fsyncs the directory,
renames it to ``step-N`` (atomic) and fsyncs the parent; then it re-reads and re-verifies every file
before the checkpoint is reported. Until the rename nothing is a checkpoint.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from torch.distributed.checkpoint.filesystem import FileSystemReader, FileSystemWriter
from torch.distributed.checkpoint.metadata import BytesStorageMetadata, TensorStorageMetadata
from torch.distributed.checkpoint.state_dict_loader import load as dcp_load
from torch.distributed.checkpoint.state_dict_saver import save as dcp_save

from . import distutil
from .jsonutil import pretty, sha256_bytes, sha256_file
from .state import (
    Leaf,
    TensorEntry,
    TrainState,
    describe,
    dtype_name,
    empty_like_flat,
    expected_global_keys,
    json_value,
    state_digest,
)
from .store import DCP_METADATA, MANIFEST, CheckpointStore, dir_name, fsync_dir

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
FORMAT = "phoenix-dcp-v1"


class CheckpointError(Exception):
    """A checkpoint is missing or invalid; ``str()`` names the directory, the file or key, and why."""

    def __init__(self, step: int, message: str) -> None:
        super().__init__(message)
        self.step = step


@dataclass(frozen=True)
class Saved:
    step: int
    directory: Path
    digest: str
    state_digest: str
    bytes: int
    seconds: float
    manifest: dict[str, Any]


@dataclass(frozen=True)
class Verified:
    step: int
    directory: Path
    digest: str
    manifest: dict[str, Any]
    bytes: int
    seconds: float


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def backend_name() -> str:
    dev = f"cuda/{torch.cuda.get_device_name()}" if torch.cuda.is_available() and torch.cuda.is_initialized() else "cpu"
    return f"torch-{torch.__version__}/{dev}"


def _merge(gathered: list[tuple[list[TensorEntry], dict[str, Any]]]) -> tuple[list[TensorEntry], dict[str, Any]]:
    """Rank 0's shared keys plus every rank's own ``rank<r>.`` keys."""
    tensors: dict[str, TensorEntry] = {}
    values: dict[str, Any] = {}
    for r, (ts, vs) in enumerate(gathered):
        own = f"rank{r}."
        for t in ts:
            if r == 0 or t.name.startswith(own):
                tensors[t.name] = t
        for k, v in vs.items():
            if r == 0 or k.startswith(own):
                values[k] = v
    return sorted(tensors.values(), key=lambda e: e.name), dict(sorted(values.items()))


def save(store: CheckpointStore, state: TrainState, step: int, *, attempt: int, timeline: str,
         job_uid: str | None = None) -> Saved:
    """Writes and commits ``step-N`` (collective: every rank calls it). Returns on every rank."""
    t0 = time.monotonic()
    flat = state.flat(step)
    tensors, values = _merge(distutil.gather(describe(flat)))
    suffix = distutil.broadcast(uuid.uuid4().hex[:8])
    tmp = store.root / f"{dir_name(step)}.tmp-{suffix}"
    if distutil.rank() == 0:
        store.new_tmp_dir(step, suffix)
    distutil.broadcast(True)  # the directory exists before any rank writes into it
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="torch.distributed is disabled")  # a world of one: expected
        dcp_save(flat, storage_writer=FileSystemWriter(tmp, single_file_per_rank=True, sync_files=True, thread_count=1))
    result: Saved | str
    if distutil.rank() == 0:
        try:
            result = _commit(store, tmp, step, tensors, values, attempt, timeline, job_uid, t0)
        except (OSError, CheckpointError) as e:
            result = f"checkpoint step {step} failed: {e}"
    else:
        result = ""
    result = distutil.broadcast(result)
    if isinstance(result, str):
        raise OSError(result)
    return result


def _commit(store: CheckpointStore, tmp: Path, step: int, tensors: list[TensorEntry], values: dict[str, Any],
            attempt: int, timeline: str, job_uid: str | None, t0: float) -> Saved:
    files = []
    total = 0
    for p in sorted(tmp.iterdir(), key=lambda q: q.name):
        n, sha = sha256_file(p)
        files.append({"file": p.name, "bytes": n, "sha256": sha})
        total += n
    digest_of_state = state_digest(tensors, values)
    manifest: dict[str, Any] = {
        "formatVersion": FORMAT_VERSION,
        "format": FORMAT,
        "step": step,
        "attempt": attempt,
        "timeline": timeline,
        "createdAt": now_iso(),
        "worldSize": distutil.world_size(),
        "backend": backend_name(),
        "stateDigest": digest_of_state,
        "files": files,
        "tensors": [t.to_json() for t in tensors],
        "state": values,
    }
    if job_uid:
        manifest["jobUid"] = job_uid
    body = pretty(manifest)
    with open(tmp / MANIFEST, "xb") as f:
        f.write(body)
        f.flush()
        os.fsync(f.fileno())
    fsync_dir(tmp)
    target = store.root / dir_name(step)
    existing = store.step_dir(step)
    if existing.exists():
        store.move_aside_existing(existing)
    os.rename(tmp, target)
    fsync_dir(store.root)
    digest = "sha256:" + sha256_bytes(body)
    return Saved(step, target, digest, digest_of_state, total + len(body), time.monotonic() - t0, manifest)


def _fail(step: int, where: str, why: str) -> CheckpointError:
    return CheckpointError(step, f"{where}: {why}")


def verify(store: CheckpointStore, step: int, job_uid: str | None = None) -> Verified:
    """Checks ``step-N`` without loading it: manifest present, parseable, for this step and job; exactly
    the listed files, each with its length and SHA-256; DCP's metadata listing exactly the manifest's
    keys with their dtypes and shapes; the stateDigest recomputed from the manifest."""
    t0 = time.monotonic()
    d = store.step_dir(step)
    name = d.name
    if not d.is_dir():
        twins = store.tmp_dirs(step)
        why = f"{dir_name(step)}: no such checkpoint directory in {store.root}"
        if twins:
            why += f" (only the uncommitted {twins[0].name}: a save that never completed)"
        raise CheckpointError(step, why)
    mpath = d / MANIFEST
    if not mpath.is_file():
        raise _fail(step, name, f"no {MANIFEST} (not a committed checkpoint)")
    body = mpath.read_bytes()
    try:
        m = json.loads(body)
        if not isinstance(m, dict):
            raise ValueError("not a JSON object")
    except ValueError as e:
        raise _fail(step, f"{name}/{MANIFEST}", f"unreadable: {e}") from None
    if m.get("formatVersion") != FORMAT_VERSION or m.get("format") != FORMAT:
        raise _fail(step, f"{name}/{MANIFEST}", f"unsupported format {m.get('format')!r} version {m.get('formatVersion')!r}")
    if m.get("step") != step:
        raise _fail(step, f"{name}/{MANIFEST}", f"manifest is for step {m.get('step')}")
    if not all(isinstance(m.get(k), t) for k, t in (("files", list), ("tensors", list), ("state", dict), ("stateDigest", str))):
        raise _fail(step, f"{name}/{MANIFEST}", "incomplete manifest (files, tensors, state or stateDigest missing)")
    owner = m.get("jobUid")
    if job_uid and owner and owner != job_uid:
        raise _fail(step, f"{name}/{MANIFEST}", f"belongs to job UID {owner}, not this job ({job_uid})")
    listed: dict[str, dict[str, Any]] = {}
    for f in m["files"]:
        if not isinstance(f, dict) or not isinstance(f.get("file"), str) or "/" in f["file"] or f["file"] in (MANIFEST, ""):
            raise _fail(step, f"{name}/{MANIFEST}", f"bad file entry {f!r}")
        listed[f["file"]] = f
    on_disk = {p.name for p in d.iterdir()} - {MANIFEST}
    for extra in sorted(on_disk - set(listed)):
        raise _fail(step, f"{name}/{extra}", "unexpected file (not in the manifest)")
    total = len(body)
    for fname, f in listed.items():
        p = d / fname
        if not p.is_file():
            raise _fail(step, f"{name}/{fname}", "file missing")
        size = p.stat().st_size
        if size != f.get("bytes"):
            raise _fail(step, f"{name}/{fname}", f"file has {size} bytes, manifest says {f.get('bytes')} (truncated or overwritten)")
        _, sha = sha256_file(p)
        if sha != f.get("sha256"):
            raise _fail(step, f"{name}/{fname}", f"SHA-256 mismatch (manifest {f.get('sha256')}, file {sha})")
        total += size
    if DCP_METADATA not in listed:
        raise _fail(step, name, f"no DCP {DCP_METADATA} listed in the manifest")
    tensors = [TensorEntry(t["name"], t["dtype"], list(t["shape"]), t["sha256"]) for t in m["tensors"]]
    names = [t.name for t in tensors]
    if len(set(names)) != len(names) or set(names) & set(m["state"]):
        raise _fail(step, f"{name}/{MANIFEST}", "a key is listed twice")
    _check_dcp_metadata(step, d, tensors, m["state"])
    recomputed = state_digest(tensors, m["state"])
    if recomputed != m["stateDigest"]:
        raise _fail(step, f"{name}/{MANIFEST}", f"stateDigest does not match its content (manifest {m['stateDigest']}, recomputed {recomputed})")
    return Verified(step, d, "sha256:" + sha256_bytes(body), m, total, time.monotonic() - t0)


def _check_dcp_metadata(step: int, d: Path, tensors: list[TensorEntry], state: Mapping[str, Any]) -> None:
    try:
        md = FileSystemReader(d).read_metadata()
    except Exception as e:  # a corrupt pickle can raise anything
        raise _fail(step, f"{d.name}/{DCP_METADATA}", f"unreadable DCP metadata: {e}") from None
    meta = md.state_dict_metadata
    want = {t.name: t for t in tensors}
    for key in sorted(set(meta) - set(want) - set(state)):
        raise _fail(step, f"{d.name}/{key}", "unexpected key in the DCP metadata (not in the manifest)")
    for key in sorted((set(want) | set(state)) - set(meta)):
        raise _fail(step, f"{d.name}/{key}", "missing from the DCP metadata (listed in the manifest)")
    for key, t in want.items():
        sm = meta[key]
        if not isinstance(sm, TensorStorageMetadata):
            raise _fail(step, f"{d.name}/{key}", "stored as an object, manifest says tensor")
        if dtype_name_of(sm.properties.dtype) != t.dtype or list(sm.size) != t.shape:
            raise _fail(step, f"{d.name}/{key}", f"DCP metadata says {dtype_name_of(sm.properties.dtype)} {list(sm.size)}, manifest {t.dtype} {t.shape}")
    for key in state:
        if not isinstance(meta[key], BytesStorageMetadata):
            raise _fail(step, f"{d.name}/{key}", "stored as a tensor, manifest says value")


def dtype_name_of(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def check_keys(step: int, dir_label: str, manifest: Mapping[str, Any], expected: Mapping[str, Leaf], world_size: int) -> None:
    """The checkpoint's key set must be exactly the one this model, optimizer and gang produce: every
    missing, unexpected or mis-shaped key is an error naming it (the first one, sorted, with a count)."""
    saved_tensors = {t["name"]: t for t in manifest["tensors"]}
    saved = set(saved_tensors) | set(manifest["state"])
    want = expected_global_keys(set(expected), world_size)
    missing = sorted(want - saved)
    unexpected = sorted(saved - want)
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise _fail(step, f"{dir_label}/{missing[0]}", f"missing from the checkpoint{more}")
    if unexpected:
        more = f" (and {len(unexpected) - 1} more)" if len(unexpected) > 1 else ""
        raise _fail(step, f"{dir_label}/{unexpected[0]}", f"unexpected key (this model/optimizer has no such entry){more}")
    for k, v in sorted(expected.items()):
        if isinstance(v, torch.Tensor):
            t = saved_tensors.get(k)
            if t is None:
                raise _fail(step, f"{dir_label}/{k}", "saved as a value, expected a tensor")
            if t["dtype"] != dtype_name(v) or list(t["shape"]) != list(v.shape):
                raise _fail(step, f"{dir_label}/{k}", f"checkpoint has {t['dtype']} {t['shape']}, the model expects {dtype_name(v)} {list(v.shape)}")
        elif k in saved_tensors:
            raise _fail(step, f"{dir_label}/{k}", "saved as a tensor, expected a value")


@dataclass(frozen=True)
class Loaded:
    step: int
    digest: str
    manifest: dict[str, Any]
    bytes: int
    seconds: float


def load(store: CheckpointStore, state: TrainState, step: int, job_uid: str | None = None) -> Loaded:
    """Verifies (rank 0) and loads exactly ``step-N`` into ``state`` (collective). Nothing is applied
    to the model, optimizer, scheduler, data or RNG unless every check on every rank passed."""
    t0 = time.monotonic()
    verdict: Verified | str
    if distutil.rank() == 0:
        try:
            verdict = verify(store, step, job_uid)
        except CheckpointError as e:
            verdict = str(e)
    else:
        verdict = ""
    verdict = distutil.broadcast(verdict)
    if isinstance(verdict, str):
        raise CheckpointError(step, verdict)
    d, m = verdict.directory, verdict.manifest
    problem: str | None = None
    loaded: dict[str, Leaf] = {}
    try:
        expected = state.flat(step)
        check_keys(step, d.name, m, expected, distutil.world_size())
        if m.get("worldSize") != distutil.world_size() and any(k.startswith("rank") for k in expected):
            raise _fail(step, f"{d.name}/{MANIFEST}", f"saved by a gang of {m.get('worldSize')}, this gang has {distutil.world_size()} (per-rank RNG and data state cannot be mapped)")
        loaded = empty_like_flat(expected)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="torch.distributed is disabled")
            dcp_load(loaded, storage_reader=FileSystemReader(d))
        _check_loaded(step, d.name, m, loaded)
    except CheckpointError as e:
        problem = str(e)
    except Exception as e:  # DCP reports corrupt data as assorted exception types
        problem = f"{d.name}: DCP load failed: {type(e).__name__}: {e}"
    problems = [p for p in distutil.gather(problem) if p]
    if problems:
        raise CheckpointError(step, problems[0])
    state.apply(loaded, step)
    return Loaded(step, verdict.digest, m, verdict.bytes, time.monotonic() - t0)


def _check_loaded(step: int, label: str, m: Mapping[str, Any], loaded: Mapping[str, Leaf]) -> None:
    """What DCP handed back is bit for bit what the manifest describes."""
    tensors, values = describe(loaded)
    saved = {t["name"]: t for t in m["tensors"]}
    for t in tensors:
        if saved[t.name]["sha256"] != t.sha256:
            raise _fail(step, f"{label}/{t.name}", f"loaded bytes have SHA-256 {t.sha256}, manifest {saved[t.name]['sha256']}")
    for k, v in values.items():
        if json_value(v) != m["state"][k]:
            raise _fail(step, f"{label}/{k}", f"loaded value {v!r} differs from the manifest's {m['state'][k]!r}")
