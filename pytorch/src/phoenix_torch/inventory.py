"""The committed checkpoints on disk, each verified once (cached by its manifest digest)."""

from __future__ import annotations

import logging
from typing import Any

from .checkpoint import CheckpointError, verify
from .jsonutil import sha256_bytes
from .store import MANIFEST, CheckpointStore

log = logging.getLogger(__name__)


class Inventory:
    def __init__(self, store: CheckpointStore, job_uid: str | None = None) -> None:
        self.store = store
        self.job_uid = job_uid
        self._verified: dict[tuple[int, str], dict[str, Any] | None] = {}

    def add_verified(self, step: int, digest: str, state_digest: str) -> None:
        self._verified[(step, digest)] = {"step": step, "digest": digest, "stateDigest": state_digest}

    def entries(self) -> list[dict[str, Any]]:
        """``{"step","digest","stateDigest"}`` of every valid committed checkpoint, newest first."""
        out: list[dict[str, Any]] = []
        for step, d in sorted(self.store.committed().items(), reverse=True):
            try:
                digest = "sha256:" + sha256_bytes((d / MANIFEST).read_bytes())
            except OSError:
                continue
            key = (step, digest)
            if key not in self._verified:
                try:
                    v = verify(self.store, step, self.job_uid)
                    self._verified[key] = {"step": step, "digest": v.digest, "stateDigest": v.manifest["stateDigest"]}
                except CheckpointError as e:
                    log.warning("not in the inventory: %s", e)
                    self._verified[key] = None
            entry = self._verified[key]
            if entry is not None:
                out.append(entry)
        return out
