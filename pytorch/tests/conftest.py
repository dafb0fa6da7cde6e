"""Shared helpers: the example trainer in fresh processes, and an in-memory report ConfigMap."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Mapping
from typing import Any

import pytest

from phoenix_torch.report import Conflict, Snapshot

# The model of every subprocess test: tiny, so 10 resumes with torch.compile fit in a few minutes.
TINY = ["--input", "16", "--hidden", "32", "--layers", "2", "--classes", "4", "--batch", "16"]


@dataclass
class Run:
    rc: int
    stdout: str
    stderr: str
    termination: dict[str, Any] | None

    def final_digest(self) -> str:
        for line in self.stdout.splitlines():
            if line.startswith("final step "):
                return line.split()[-1]
        raise AssertionError(f"no final line in stdout (rc {self.rc}):\n{self.stdout}\n{self.stderr[-3000:]}")


# The longest tests (each 0.5-4 min on 2 busy cores), longest first, under pytest-xdist only (one
# process keeps the file order). hack/test-python.sh runs `--dist loadgroup --no-loadscope-reorder`: a
# worker that has run down to 2 queued tests gets the next one in collection order, so the long ones
# start at once on different workers and the short ones fill in around them, instead of a long test
# running alone at the end. Only the order changes; an id that no longer matches just sorts last.
LONGEST_FIRST = (
    "tests/test_resume.py::test_ten_resumes_end_bit_identical[compiled]",
    "tests/test_resume.py::test_switching_compile_between_resumes_loads_every_time_with_the_same_keys",
    "tests/test_resume.py::test_ten_resumes_end_bit_identical[eager]",
    "tests/test_torchtitan.py::",
    "tests/test_rollback.py::",
    "tests/test_multirank.py::",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return

    def rank(item: pytest.Item) -> int:
        return next((i for i, prefix in enumerate(LONGEST_FIRST) if item.nodeid.startswith(prefix)), len(LONGEST_FIRST))
    items.sort(key=rank)  # stable: file order within each rank


@pytest.fixture(scope="session")
def inductor_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # One compile cache for the whole run: the first compiled process pays for codegen, the others
    # load the same kernels (same code, so the same bits). Under pytest-xdist every worker has its own
    # basetemp (.../pytest-N/popen-gwK); their parent, pytest-N, belongs to this run alone, so the
    # workers share .../pytest-N/inductor (mkdir with exist_ok does not race). Inductor's cache is made
    # for concurrent processes (atomic renames, file locks; every local rank of a torchrun shares one).
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = tmp_path_factory.getbasetemp().parent / "inductor"
        shared.mkdir(exist_ok=True)
        return shared
    return tmp_path_factory.mktemp("inductor")


def base_env(ckpt: Path, tmp: Path, inductor: Path | None = None, **contract: Any) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHOENIX_") and k not in ("RANK", "WORLD_SIZE")}
    env.update({
        "OMP_NUM_THREADS": "1",
        "PHOENIX_CHECKPOINT_DIR": str(ckpt),
        "PHOENIX_TERMINATION_LOG": str(tmp / "termination-log"),
        "PHOENIX_CHECKPOINT_INTERVAL": "0",
        "PHOENIX_CHECKPOINT_KEEP": "0",
        "PHOENIX_LOG_LEVEL": "WARNING",
    })
    if inductor is not None:
        env["TORCHINDUCTOR_CACHE_DIR"] = str(inductor)
    for k, v in contract.items():
        env["PHOENIX_" + k.upper()] = str(v)
    return env


def run_mlp(args: list[str], env: dict[str, str], timeout: float = 300) -> Run:
    term = Path(env["PHOENIX_TERMINATION_LOG"])
    if term.exists():
        term.unlink()
    p = subprocess.run([sys.executable, "-m", "phoenix_torch.examples.mlp", *TINY, *args], env=env,
                       capture_output=True, text=True, timeout=timeout)
    t = json.loads(term.read_text()) if term.exists() else None
    return Run(p.returncode, p.stdout, p.stderr, t)


class MemoryConfigMap:
    """A ConfigMap with the API server's resourceVersion semantics (put with a stale version: Conflict),
    plus injectable failures. A test double for the reporter's rules, not a stand-in for a cluster."""

    def __init__(self, data: dict[str, str] | None = None, exists: bool = True) -> None:
        self.data = dict(data or {})
        self.version = 1
        self.exists = exists
        self.fail_next: list[Exception] = []
        self.conflicts_next = 0
        self.puts = 0
        self.lock = threading.Lock()

    def get(self) -> Snapshot | None:
        with self.lock:
            if self.fail_next:
                raise self.fail_next.pop(0)
            return Snapshot(dict(self.data), str(self.version)) if self.exists else None

    def put(self, values: Mapping[str, str], resource_version: str) -> None:
        with self.lock:
            if self.conflicts_next > 0:
                self.conflicts_next -= 1
                self.version += 1  # somebody else wrote in between
                self.data["other"] = f"write {self.version}"
                raise Conflict("the object has been modified")
            if resource_version != str(self.version):
                raise Conflict("stale resourceVersion")
            self.data.update(values)
            self.version += 1
            self.puts += 1

    def describe(self) -> str:
        return "memory ConfigMap"

    def json(self, key: str) -> Any:
        return json.loads(self.data[key])
