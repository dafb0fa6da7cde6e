"""The checkpoint directory, as the Java reference trainer's ``CheckpointStore`` lays it out.

``step-<N>/`` per committed checkpoint (the library pads N to 10 digits; TorchTitan does not pad, so
any digit count is accepted when scanning), ``step-<N>.tmp-<random>/`` while one is written,
``abandoned/<timeline>_<time>/`` for directories moved aside, ``.deleting-…`` while retention deletes.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import uuid
from datetime import datetime, timezone
from pathlib import Path

log = logging.getLogger(__name__)

STEP_DIR = re.compile(r"step-(\d+)")
TMP_DIR = re.compile(r"step-(\d+)\.tmp-.+")
ABANDONED = "abandoned"
DELETING_PREFIX = ".deleting-"
MANIFEST = "manifest.json"
DCP_METADATA = ".metadata"
_TIMELINE = re.compile(r"[A-Za-z0-9._-]+")


def dir_name(step: int) -> str:
    return f"step-{step:010d}"


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _stamp() -> str:
    now = datetime.now(timezone.utc)
    return now.strftime("%Y%m%dT%H%M%S.") + f"{now.microsecond // 1000:03d}Z"


class CheckpointStore:
    """One checkpoint root. ``marker`` is the file whose presence makes a step directory committed:
    ``manifest.json`` for the library's checkpoints, DCP's ``.metadata`` for an unmodified trainer's."""

    def __init__(self, root: Path, marker: str = MANIFEST) -> None:
        self.root = Path(root)
        self.marker = marker

    def step_dir(self, step: int) -> Path:
        """The directory of ``step``: an existing one of any padding, else the library's padded name."""
        for p in self._entries():
            m = STEP_DIR.fullmatch(p.name)
            if m and int(m.group(1)) == step and p.is_dir():
                return p
        return self.root / dir_name(step)

    def ensure_root(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)

    def new_tmp_dir(self, step: int, suffix: str | None = None) -> Path:
        self.ensure_root()
        tmp = self.root / f"{dir_name(step)}.tmp-{suffix or uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        return tmp

    def _entries(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return sorted(self.root.iterdir(), key=lambda p: p.name)

    def committed(self) -> dict[int, Path]:
        """Committed checkpoints (a step directory with the marker file) by step, oldest first."""
        out: dict[int, Path] = {}
        for p in self._entries():
            m = STEP_DIR.fullmatch(p.name)
            if m and p.is_dir() and (p / self.marker).is_file():
                out[int(m.group(1))] = p
        return dict(sorted(out.items()))

    def tmp_dirs(self, step: int) -> list[Path]:
        return [p for p in self._entries() if (m := TMP_DIR.fullmatch(p.name)) and int(m.group(1)) == step]

    def timeline_of(self, step_dir: Path) -> str | None:
        try:
            t = json.loads((step_dir / MANIFEST).read_text("utf-8")).get("timeline")
        except (OSError, ValueError, AttributeError):
            return None
        return t if isinstance(t, str) and _TIMELINE.fullmatch(t) else None

    def move_aside_newer_than(self, keep_up_to: int) -> list[Path]:
        """Moves every step directory newer than ``keep_up_to`` and every leftover temporary directory
        into ``abandoned/<old timeline>_<time>/`` so nothing of an abandoned timeline can later be taken
        for the current one; finishes interrupted retention deletions. Returns the new locations."""
        moved: list[Path] = []
        stamp = _stamp()
        for p in self._entries():
            name = p.name
            if name.startswith(DELETING_PREFIX):
                shutil.rmtree(p, ignore_errors=True)
                continue
            step = STEP_DIR.fullmatch(name)
            newer = step is not None and int(step.group(1)) > keep_up_to
            tmp = TMP_DIR.fullmatch(name) is not None
            if not (newer or tmp):
                continue
            label = "uncommitted" if tmp else (self.timeline_of(p) or "unknown")
            target = self.root / ABANDONED / f"{label}_{stamp}" / name
            target.parent.mkdir(parents=True, exist_ok=True)
            os.rename(p, target)
            log.warning("moved %s aside to %s (%s)", name, target.relative_to(self.root),
                        "uncommitted save" if tmp else f"newer than resume step {keep_up_to}, abandoned timeline")
            moved.append(target)
        if moved:
            fsync_dir(self.root)
        return moved

    def move_aside_existing(self, directory: Path) -> Path:
        """Moves a directory out of the way of a commit (the same step written again)."""
        target = self.root / ABANDONED / f"replaced_{_stamp()}" / directory.name
        target.parent.mkdir(parents=True, exist_ok=True)
        os.rename(directory, target)
        log.warning("moved existing %s aside to %s", directory.name, target.relative_to(self.root))
        return target

    def retain(self, keep: int, protected_step: int) -> list[int]:
        """Keeps the newest ``keep`` committed checkpoints (0 = all), never ``protected_step`` (the one this
        attempt resumed from). A doomed directory is renamed first, so a crash never leaves a half-deleted
        checkpoint that still looks committed."""
        deleted: list[int] = []
        if keep <= 0:
            return deleted
        steps = sorted(self.committed(), reverse=True)
        for s in steps[keep:]:
            if s == protected_step:
                continue
            d = self.step_dir(s)
            doomed = self.root / f"{DELETING_PREFIX}{d.name}-{uuid.uuid4().hex[:8]}"
            os.rename(d, doomed)
            shutil.rmtree(doomed)
            deleted.append(s)
        if deleted:
            fsync_dir(self.root)
        return deleted
