"""``phoenix-agent``: Phoenix's checkpoint side for trainers that do not use the library (TorchTitan).

Two commands, both driven by the pod contract's environment:

``phoenix-agent preflight``
    Runs before the trainer (``sh -c 'phoenix-agent preflight && exec <trainer>'``, or an init
    container). Verifies the checkpoint named by ``PHOENIX_RESUME_STEP`` (its agent manifest: every
    file's length and SHA-256; a committed step that has no manifest yet is checked for DCP completeness
    and gets one), then moves every newer step directory and every leftover temporary directory aside
    into ``abandoned/`` (all of them on a fresh start, so TorchTitan's "load the latest" finds nothing
    stale). A missing or invalid resume checkpoint: termination message and exit 65.

``phoenix-agent watch``
    The sidecar (a native sidecar: an init container with ``restartPolicy: Always``). Every
    ``--interval`` seconds it looks for committed steps: a ``step-N`` directory whose DCP ``.metadata``
    exists (DCP writes it last, by rename) and whose data files are all there with the lengths the
    metadata needs. For each new one it computes the SHA-256 of every file and writes ``manifest.json``
    (atomically) into the step directory; then it reports the newest as ``checkpoint`` and all verified
    ones as ``inventory`` into the report ConfigMap, with the library's Reporter (same rules). On
    SIGTERM (sent after the trainer has stopped) it makes one last pass and exits 0.

The agent's ``stateDigest`` covers the DCP data files (name, length, SHA-256) and the key list with
dtypes and shapes; DCP's ``.metadata`` carries a per-save id, so it is listed with its SHA-256 but not
part of the state digest. Two runs with bit-identical state and the same sharding give the same digest.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import signal
import sys
import time
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import Any

from . import termination
from .env import PhoenixEnv
from .jsonutil import canonical, pretty, sha256_bytes, sha256_file
from .report import ConfigMapStore, KubeConfigMapStore, Reporter
from .store import DCP_METADATA, MANIFEST, STEP_DIR, CheckpointStore, fsync_dir

log = logging.getLogger("phoenix_torch.agent")

AGENT_FORMAT = "dcp-agent-v1"


class Invalid(Exception):
    pass


def _dcp_keys(d: Path) -> tuple[list[dict[str, Any]], list[str], dict[str, int]]:
    """Tensors (name, dtype, shape), object keys, and the bytes each data file must have, from .metadata."""
    from torch.distributed.checkpoint.filesystem import FileSystemReader
    from torch.distributed.checkpoint.metadata import TensorStorageMetadata

    try:
        md = FileSystemReader(d).read_metadata()
    except Exception as e:
        raise Invalid(f"{d.name}/{DCP_METADATA}: unreadable DCP metadata: {e}") from None
    tensors, objects = [], []
    for k, v in sorted(md.state_dict_metadata.items()):
        if isinstance(v, TensorStorageMetadata):
            tensors.append({"name": k, "dtype": str(v.properties.dtype).removeprefix("torch."), "shape": list(v.size)})
        else:
            objects.append(k)
    need: dict[str, int] = {}
    for info in (md.storage_data or {}).values():
        rel = str(getattr(info, "relative_path", ""))
        end = int(getattr(info, "offset", 0)) + int(getattr(info, "length", 0))
        need[rel] = max(need.get(rel, 0), end)
    return tensors, objects, need


def dcp_complete(d: Path) -> str | None:
    """None when ``d`` is a complete DCP checkpoint, else why not."""
    if not (d / DCP_METADATA).is_file():
        return f"{d.name}: no {DCP_METADATA} (not committed)"
    try:
        _, _, need = _dcp_keys(d)
    except Invalid as e:
        return str(e)
    for rel, end in sorted(need.items()):
        p = d / rel
        if not p.is_file():
            return f"{d.name}/{rel}: data file missing"
        if p.stat().st_size < end:
            return f"{d.name}/{rel}: {p.stat().st_size} bytes, the DCP metadata needs {end} (truncated)"
    return None


def build_manifest(d: Path, step: int, env: PhoenixEnv) -> dict[str, Any]:
    why = dcp_complete(d)
    if why:
        raise Invalid(why)
    tensors, objects, _ = _dcp_keys(d)
    files = []
    for p in sorted(d.iterdir(), key=lambda q: q.name):
        if p.name == MANIFEST or p.name.startswith(MANIFEST + ".tmp") or not p.is_file():
            continue
        n, sha = sha256_file(p)
        files.append({"file": p.name, "bytes": n, "sha256": sha})
    m: dict[str, Any] = {
        "formatVersion": 1, "format": AGENT_FORMAT, "step": step, "attempt": env.attempt,
        "timeline": env.timeline, "createdAt": _now(), "source": "phoenix-agent",
        "files": files, "tensors": tensors, "objects": objects,
    }
    if env.job_uid:
        m["jobUid"] = env.job_uid
    m["stateDigest"] = agent_state_digest(m)
    return m


def agent_state_digest(m: dict[str, Any]) -> str:
    h = hashlib.sha256(b"phoenix-dcp-files-v1\n")
    for f in sorted(m["files"], key=lambda f: f["file"]):
        if f["file"] != DCP_METADATA:
            h.update(f"{f['file']}\t{f['bytes']}\t{f['sha256']}\n".encode())
    h.update(canonical({"tensors": m["tensors"], "objects": m["objects"]}).encode())
    return "sha256:" + h.hexdigest()


def _now() -> str:
    from .checkpoint import now_iso
    return now_iso()


def write_manifest(d: Path, m: dict[str, Any]) -> str:
    body = pretty(m)
    tmp = d / f"{MANIFEST}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(body)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, d / MANIFEST)
    fsync_dir(d)
    return "sha256:" + sha256_bytes(body)


def verify_manifest(d: Path, step: int, job_uid: str | None) -> tuple[str, dict[str, Any]]:
    """Checks an agent manifest against the files: exactly the listed files, lengths, SHA-256, digest."""
    body = (d / MANIFEST).read_bytes()
    try:
        m = json.loads(body)
    except ValueError as e:
        raise Invalid(f"{d.name}/{MANIFEST}: unreadable: {e}") from None
    if not isinstance(m, dict) or m.get("format") != AGENT_FORMAT or m.get("step") != step:
        raise Invalid(f"{d.name}/{MANIFEST}: not an agent manifest for step {step}")
    if job_uid and m.get("jobUid") and m["jobUid"] != job_uid:
        raise Invalid(f"{d.name}/{MANIFEST}: belongs to job UID {m['jobUid']}, not this job ({job_uid})")
    listed = {f["file"]: f for f in m["files"]}
    present = {p.name for p in d.iterdir() if p.name != MANIFEST and not p.name.startswith(MANIFEST + ".tmp")}
    for extra in sorted(present - set(listed)):
        raise Invalid(f"{d.name}/{extra}: unexpected file (not in the manifest)")
    for name, f in sorted(listed.items()):
        p = d / name
        if not p.is_file():
            raise Invalid(f"{d.name}/{name}: file missing")
        if p.stat().st_size != f["bytes"]:
            raise Invalid(f"{d.name}/{name}: file has {p.stat().st_size} bytes, manifest says {f['bytes']} (truncated or overwritten)")
        _, sha = sha256_file(p)
        if sha != f["sha256"]:
            raise Invalid(f"{d.name}/{name}: SHA-256 mismatch (manifest {f['sha256']}, file {sha})")
    if agent_state_digest(m) != m.get("stateDigest"):
        raise Invalid(f"{d.name}/{MANIFEST}: stateDigest does not match its content")
    return "sha256:" + sha256_bytes(body), m


class Agent:
    def __init__(self, env: PhoenixEnv, report_store: ConfigMapStore | None = None) -> None:
        self.env = env
        self.store = CheckpointStore(env.checkpoint_dir, marker=DCP_METADATA)
        self.reporter: Reporter | None = None
        if env.is_root and (report_store is not None or env.report_configmap):
            self.reporter = Reporter(report_store or KubeConfigMapStore(env.namespace, env.report_configmap or ""),
                                     env.progress_interval_seconds)
        self._known: dict[tuple[int, float, int], dict[str, Any] | None] = {}
        self._reported: tuple[Any, ...] | None = None
        self._stop = False

    def check(self, step: int, d: Path) -> dict[str, Any]:
        """The verified entry of ``step-N`` (writing its manifest first if it has none); raises Invalid."""
        if not (d / MANIFEST).is_file():
            m = build_manifest(d, step, self.env)
            digest = write_manifest(d, m)
            log.info("step %d committed: %d files, manifest digest %s stateDigest %s", step, len(m["files"]), digest, m["stateDigest"])
        digest, m = verify_manifest(d, step, self.env.job_uid)
        return {"step": step, "digest": digest, "stateDigest": m["stateDigest"], "time": m["createdAt"],
                "attempt": m["attempt"]}

    def scan(self) -> list[dict[str, Any]]:
        """Verified committed steps on disk, newest first (each verified once per manifest version)."""
        out: list[dict[str, Any]] = []
        for step, d in sorted(self.store.committed().items(), reverse=True):
            mp = d / MANIFEST
            key = (step, mp.stat().st_mtime if mp.exists() else -1.0, mp.stat().st_size if mp.exists() else -1)
            if key not in self._known:
                try:
                    entry: dict[str, Any] | None = self.check(step, d)
                except Invalid as e:
                    if "not committed" in str(e):
                        continue  # .metadata vanished between listing and reading: look again
                    log.warning("step %d is not a valid checkpoint: %s", step, e)
                    entry = None
                except OSError as e:
                    log.warning("step %d unreadable (%s); retrying", step, e)
                    continue
                mp_now = d / MANIFEST
                key = (step, mp_now.stat().st_mtime if mp_now.exists() else -1.0, mp_now.stat().st_size if mp_now.exists() else -1)
                self._known[key] = entry
            found = self._known[key]
            if found is not None:
                out.append(found)
        return out

    def report(self, entries: list[dict[str, Any]]) -> None:
        if self.reporter is None:
            return
        state = tuple((e["step"], e["digest"]) for e in entries)
        if state == self._reported:
            return
        if entries:
            newest = entries[0]
            # one write: the newest checkpoint, the inventory that lists it, progress at its step
            self.reporter.report_checkpoint({"step": newest["step"], "digest": newest["digest"], "stateDigest": newest["stateDigest"],
                                             "attempt": self.env.attempt, "timeline": self.env.timeline, "time": newest["time"]},
                                            inventory=entries)
        else:
            self.reporter.report_inventory(entries, self.env.attempt, self.env.timeline)
        self._reported = state

    def watch(self, interval: float) -> int:
        def handle(signum: int, _f: FrameType | None) -> None:
            log.info("%s: last pass, then exit", signal.Signals(signum).name)
            self._stop = True
        signal.signal(signal.SIGTERM, handle)
        signal.signal(signal.SIGINT, handle)
        log.info("watching %s every %.1f s (job %s attempt %d timeline %s)", self.store.root, interval,
                 self.env.job_name, self.env.attempt, self.env.timeline)
        while True:
            self.report(self.scan())
            if self._stop:
                break
            end = time.monotonic() + interval
            while not self._stop and time.monotonic() < end:
                time.sleep(min(0.2, interval))
        if self.reporter is not None:
            self.reporter.close()
        return 0

    def preflight(self) -> int:
        env = self.env
        resume = env.resume_step if env.resuming else 0
        if env.resuming:
            d = self.store.step_dir(env.resume_step)
            try:
                if not d.is_dir():
                    twins = self.store.tmp_dirs(env.resume_step)
                    raise Invalid(f"step-{env.resume_step}: no such checkpoint directory in {self.store.root}"
                                  + (f" (only the uncommitted {twins[0].name})" if twins else ""))
                entry = self.check(env.resume_step, d)
            except (Invalid, OSError) as e:
                log.error("cannot resume from step %d: %s", env.resume_step, e)
                termination.write(env.termination_log, termination.message("CheckpointInvalid", env.resume_step, message=str(e)))
                return termination.CHECKPOINT_INVALID
            log.info("resume checkpoint step %d verified: digest %s", env.resume_step, entry["digest"])
        if not env.is_root:
            return self._await_root_moves(resume)
        self.store.ensure_root()
        self.store.move_aside_newer_than(resume)
        self.report(self.scan())
        if self.reporter is not None:
            self.reporter.close()
        return 0


    def _await_root_moves(self, resume: int, timeout: float = 300.0) -> int:
        """Ranks > 0 move nothing (one writer per directory); they wait until rank 0's preflight has
        moved every newer and temporary directory aside, so no rank can start on a stale step."""
        end = time.monotonic() + timeout
        while True:
            stale = [p.name for p in self.store.root.iterdir() if (m := STEP_DIR.fullmatch(p.name)) and int(m.group(1)) > resume
                     or p.name.startswith("step-") and ".tmp-" in p.name] if self.store.root.is_dir() else []
            if not stale:
                return 0
            if time.monotonic() > end:
                msg = f"rank 0 did not move {stale[0]} aside within {timeout:.0f} s"
                termination.write(self.env.termination_log, termination.message("Failed", self.env.resume_step, message=msg))
                return termination.FAILED
            time.sleep(0.5)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="phoenix-agent", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=["watch", "preflight", "scan"])
    p.add_argument("--dir", type=Path, help="checkpoint directory (default PHOENIX_CHECKPOINT_DIR)")
    p.add_argument("--interval", type=float, default=2.0, help="seconds between scans (watch)")
    a = p.parse_args(argv)
    logging.basicConfig(level=os.environ.get("PHOENIX_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        env = PhoenixEnv.from_environ()
    except ValueError as e:
        print(f"phoenix-agent: bad environment: {e}", file=sys.stderr)
        sys.exit(termination.BAD_USAGE)
    if a.dir is not None:
        env = replace(env, checkpoint_dir=a.dir)
    agent = Agent(env)
    if a.command == "watch":
        sys.exit(agent.watch(a.interval))
    if a.command == "preflight":
        sys.exit(agent.preflight())
    entries = agent.scan()
    agent.report(entries)
    if agent.reporter is not None:
        agent.reporter.close()
    print(json.dumps(entries, indent=2))
    sys.exit(0)
if __name__ == "__main__":
    main()
