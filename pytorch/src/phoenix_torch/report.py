"""Reports into the job's report ConfigMap, with the Java ``Reporter``'s rules.

Keys (docs/contract.md): ``checkpoint`` ``{"step","digest","stateDigest","attempt","timeline","time"}``,
``progress`` ``{"step","attempt","timeline","time"}`` and ``inventory``
``{"attempt","timeline","time","checkpoints":[{"step","digest","stateDigest"}, …]}`` (newest first,
at most ``INVENTORY_LIMIT``: the committed, verified checkpoints still on disk, shared/DESIGN.md
"Checkpoint truth and safety").

Every write reads the ConfigMap, decides which keys to write from what it holds, and sends one JSON merge
patch of those keys carrying ``metadata.resourceVersion``: the API server answers 409 if anything changed
in between, and the reporter re-reads and retries; other errors back off (100 ms doubling to 2 s) until a
deadline. A checkpoint goes out together with the inventory that lists it and progress at least at its
step, in one write (the operator accepts a checkpoint report only then, as from the Java trainer).
Rules (the Java ``Reporter``'s): ``checkpoint`` is left alone only while it holds a report of a *newer
attempt* of the same timeline — a step the ConfigMap claims but the disk does not hold must never keep the
trainer from reporting its real checkpoints (shared/DESIGN.md, "Checkpoint truth and safety"); ``progress``
never goes below within the same attempt and never comes from an older attempt; ``inventory`` is never
overwritten by an older attempt of the same timeline.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum
from typing import Any, Protocol

from .jsonutil import canonical

log = logging.getLogger(__name__)

CHECKPOINT_KEY = "checkpoint"
PROGRESS_KEY = "progress"
INVENTORY_KEY = "inventory"
INVENTORY_LIMIT = 32


class Conflict(Exception):
    """The ConfigMap's resourceVersion changed since it was read (HTTP 409)."""


@dataclass(frozen=True)
class Snapshot:
    data: dict[str, str]
    resource_version: str


class ConfigMapStore(Protocol):
    def get(self) -> Snapshot | None:
        """The data and resourceVersion, or None when the ConfigMap does not exist."""

    def put(self, values: Mapping[str, str], resource_version: str) -> None:
        """Sets these keys (others untouched) only if the ConfigMap still has ``resource_version``; raises
        Conflict otherwise."""

    def describe(self) -> str: ...


class KubeConfigMapStore:
    """The report ConfigMap through the official ``kubernetes`` client: in-cluster configuration in a pod,
    the kubeconfig (``KUBECONFIG``, ``~/.kube/config``) elsewhere. Needs ``get`` and ``patch`` on it."""

    def __init__(self, namespace: str, name: str, api_client: Any | None = None) -> None:
        from kubernetes import client, config

        if api_client is None:
            try:
                config.load_incluster_config()
            except config.ConfigException:
                config.load_kube_config()
            api_client = client.ApiClient()
        self._api = client.CoreV1Api(api_client)
        self._exc = client.exceptions.ApiException
        self.namespace = namespace
        self.name = name

    def get(self) -> Snapshot | None:
        try:
            cm = self._api.read_namespaced_config_map(self.name, self.namespace, _request_timeout=(5, 10))
        except self._exc as e:
            if e.status == 404:
                return None
            raise
        rv = cm.metadata.resource_version if cm.metadata is not None else None
        return Snapshot(dict(cm.data or {}), str(rv or ""))

    def put(self, values: Mapping[str, str], resource_version: str) -> None:
        body = {"metadata": {"resourceVersion": resource_version}, "data": dict(values)}
        try:
            self._api.patch_namespaced_config_map(self.name, self.namespace, body,
                                                  _content_type="application/merge-patch+json",
                                                  _request_timeout=(5, 10))
        except self._exc as e:
            if e.status == 409:
                raise Conflict(str(e.reason)) from None
            raise

    def describe(self) -> str:
        return f"ConfigMap {self.namespace}/{self.name}"


class Outcome(Enum):
    WRITTEN = "written"
    SKIPPED = "skipped"
    FAILED = "failed"


def now_seconds() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _parse(s: str | None) -> dict[str, Any] | None:
    if not s or not s.strip():
        return None
    try:
        v = json.loads(s)
    except ValueError:
        return None
    return v if isinstance(v, dict) else None


def _int(v: Any, default: int) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) else default


def checkpoint_guard(report: Mapping[str, Any]) -> Callable[[str | None], bool]:
    def guard(existing: str | None) -> bool:
        old = _parse(existing)
        if old is None or old.get("timeline") != report["timeline"]:
            return True  # first report, or a new timeline replaces the old one
        if _int(old.get("attempt"), 0) > report["attempt"]:
            log.info("not reporting checkpoint %d: the ConfigMap holds a report of attempt %d of timeline %s",
                     report["step"], _int(old.get("attempt"), 0), report["timeline"])
            return False  # a newer attempt of this timeline knows better
        return not (_int(old.get("step"), -1) == report["step"] and old.get("digest") == report["digest"]
                    and _int(old.get("attempt"), 0) == report["attempt"])
    return guard


def progress_guard(p: Mapping[str, Any]) -> Callable[[str | None], bool]:
    def guard(existing: str | None) -> bool:
        old = _parse(existing)
        if old is None or old.get("timeline") != p["timeline"]:
            return True
        old_attempt = _int(old.get("attempt"), 0)
        if old_attempt != p["attempt"]:
            return bool(old_attempt < p["attempt"])
        return bool(_int(old.get("step"), -1) < p["step"])
    return guard


def inventory_guard(inv: Mapping[str, Any]) -> Callable[[str | None], bool]:
    def guard(existing: str | None) -> bool:
        old = _parse(existing)
        if old is None or old.get("timeline") != inv["timeline"]:
            return True
        if _int(old.get("attempt"), 0) > inv["attempt"]:
            return False
        return canonical({k: v for k, v in old.items() if k != "time"}) != canonical({k: v for k, v in inv.items() if k != "time"})
    return guard


class Reporter:
    """Rank 0's writer of the report ConfigMap. Checkpoint and inventory reports are synchronous with a
    deadline; progress is rate-limited and written from a background thread so a slow API server never
    stalls training."""

    def __init__(self, store: ConfigMapStore, progress_interval_seconds: float = 5.0, backoff_seconds: float = 0.1,
                 clock: Callable[[], str] = now_seconds) -> None:
        self.store = store
        self.progress_interval = progress_interval_seconds
        self.backoff = backoff_seconds
        self.clock = clock
        self._last_progress: float | None = None
        self._pending: dict[str, Any] | None = None
        self._cv = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._progress_loop, name="progress-reporter", daemon=True)
        self._thread.start()

    def report_checkpoint(self, report: Mapping[str, Any], timeout: float = 30.0,
                          inventory: Sequence[Mapping[str, Any]] | None = None,
                          resumed_from: int | None = None) -> Outcome:
        """A committed, verified checkpoint; with ``inventory`` (what is on disk, after retention) the
        inventory and progress at the checkpoint's step go in the same write."""
        body = {k: report[k] for k in ("step", "digest", "stateDigest", "attempt", "timeline", "time") if k in report}
        plan: dict[str, tuple[str, Callable[[str | None], bool]]] = {
            CHECKPOINT_KEY: (canonical(body), checkpoint_guard(body))}
        if inventory is not None:
            inv = self._inventory(inventory, int(body["attempt"]), str(body["timeline"]), resumed_from)
            plan[INVENTORY_KEY] = (canonical(inv), inventory_guard(inv))
            p = {"step": body["step"], "attempt": body["attempt"], "timeline": body["timeline"], "time": self.clock()}
            plan[PROGRESS_KEY] = (canonical(p), progress_guard(p))
        o = self._write(plan, timeout)
        if o is Outcome.WRITTEN:
            log.info("reported checkpoint step %d to %s", body["step"], self.store.describe())
        return o

    def _inventory(self, checkpoints: Sequence[Mapping[str, Any]], attempt: int, timeline: str,
                   resumed_from: int | None) -> dict[str, Any]:
        entries = sorted(({"step": c["step"], "digest": c["digest"], "stateDigest": c["stateDigest"]} for c in checkpoints),
                         key=lambda c: -int(c["step"]))[:INVENTORY_LIMIT]
        inv: dict[str, Any] = {"attempt": attempt, "timeline": timeline, "time": self.clock(), "checkpoints": entries}
        if resumed_from is not None:
            inv["resumedFrom"] = resumed_from
        return inv

    def report_inventory(self, checkpoints: Sequence[Mapping[str, Any]], attempt: int, timeline: str, timeout: float = 30.0,
                         resumed_from: int | None = None) -> Outcome:
        inv = self._inventory(checkpoints, attempt, timeline, resumed_from)
        return self._write({INVENTORY_KEY: (canonical(inv), inventory_guard(inv))}, timeout)

    def write_progress(self, step: int, attempt: int, timeline: str, timeout: float = 10.0) -> Outcome:
        p = {"step": step, "attempt": attempt, "timeline": timeline, "time": self.clock()}
        return self._write({PROGRESS_KEY: (canonical(p), progress_guard(p))}, timeout)

    def progress(self, step: int, attempt: int, timeline: str) -> None:
        """Queues a progress report if the last one is at least the progress interval old."""
        now = time.monotonic()
        if self._last_progress is not None and now - self._last_progress < self.progress_interval:
            return
        self._last_progress = now
        with self._cv:
            self._pending = {"step": step, "attempt": attempt, "timeline": timeline}
            self._cv.notify()

    def _progress_loop(self) -> None:
        while True:
            with self._cv:
                while self._pending is None and not self._closed:
                    self._cv.wait()
                p, self._pending = self._pending, None
                closed = self._closed
            if p is not None:
                self.write_progress(p["step"], p["attempt"], p["timeline"])
            if closed:
                return

    def _write(self, plan: Mapping[str, tuple[str, Callable[[str | None], bool]]], timeout: float) -> Outcome:
        """Writes, in one patch, every key of ``plan`` whose guard accepts what the ConfigMap holds now."""
        deadline = time.monotonic() + timeout
        tries = 0
        backoff = self.backoff
        what = "+".join(plan)
        while True:
            tries += 1
            try:
                snap = self.store.get()
                if snap is None:
                    log.warning("%s does not exist; %s not reported", self.store.describe(), what)
                    return Outcome.FAILED
                values = {k: v for k, (v, guard) in plan.items() if guard(snap.data.get(k))}
                if not values:
                    return Outcome.SKIPPED
                self.store.put(values, snap.resource_version)
                return Outcome.WRITTEN
            except Conflict:
                log.debug("conflict writing %s (try %d), re-reading", what, tries)
            except Exception as e:  # network, 5xx, 403: back off and retry until the deadline
                log.warning("writing %s to %s failed (try %d): %s", what, self.store.describe(), tries, e)
                time.sleep(max(0.0, min(backoff, deadline - time.monotonic())))
                backoff = min(backoff * 2, 2.0)
            if time.monotonic() >= deadline:
                log.error("giving up reporting %s to %s after %d tries", what, self.store.describe(), tries)
                return Outcome.FAILED

    def close(self, timeout: float = 2.0) -> None:
        """Lets a queued progress report finish (bounded), then stops the background thread."""
        with self._cv:
            self._closed = True
            self._cv.notify()
        self._thread.join(timeout)
