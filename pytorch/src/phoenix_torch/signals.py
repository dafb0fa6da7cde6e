"""SIGTERM/SIGINT as a request: the handler only records it; the training loop finishes its step."""

from __future__ import annotations

import logging
import signal
import threading
import time
from types import FrameType

log = logging.getLogger(__name__)


class StopSignal:
    def __init__(self) -> None:
        self._at: float | None = None
        self.reason: str | None = None

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            log.warning("not on the main thread: SIGTERM/SIGINT handlers not installed")
            return
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        self.request(signal.Signals(signum).name)

    def request(self, why: str) -> None:
        if self._at is None:
            self._at = time.monotonic()
            self.reason = why
            log.warning("%s received: finishing the current step, then checkpoint and exit", why)

    @property
    def requested(self) -> bool:
        return self._at is not None

    def seconds_since_request(self) -> float:
        return 0.0 if self._at is None else time.monotonic() - self._at
