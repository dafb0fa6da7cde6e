"""ND4J reference trainer vs PyTorch in one run on the same machine and the same disk.

Runs trainer-image's TrainerBenchmark (ND4J) and then pytorch/bench/bench.py (PyTorch) one after the
other, with the same --dir, --steps, --disk-mib, --large-hidden and one thread, captures both outputs
into a log directory, parses their `| measurement | value | reference | ratio |` tables and prints one
comparison table (also appended as Markdown to --out):

    python pytorch/bench/compare.py --java-cp "trainer-image/target/classes:$(cat /tmp/trainer-cp.txt)" \\
        --dir /tmp/phoenix-trainers-bench [--steps 30 --disk-mib 512 --large-hidden 4096] [--out tables.md]

--python is the interpreter for bench.py (the venv of hack/python-env.sh; default: the one running this
script). --java-cp may be given as @FILE (a file holding the class path). Standard library only.

Not a test: it prints a table. Exit 0 on success, 1 if a benchmark fails, times out or a row is missing
(naming the benchmark and its log), 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

TABLE_HEADER = "| measurement | value | reference | ratio |"
BENCH_MODEL = "784-1024-1024-10"
BENCH_BATCH = 256
ND4J_MAIN = "dev.phoenix.trainer.bench.TrainerBenchmark"
BENCH_PY = Path(__file__).resolve().parent / "bench.py"

ND4J = "ND4J"
TORCH = "PyTorch"


class CompareError(Exception):
    """A benchmark failed or its output lacks something the comparison needs."""


# ---------------------------------------------------------------------------------------------------
# Parsing


@dataclass(frozen=True)
class Row:
    label: str
    value: str
    reference: str
    ratio: str


def parse_table(text: str) -> list[Row]:
    """The rows of the last `| measurement | value | reference | ratio |` table in a benchmark's output."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip() == TABLE_HEADER]
    if not starts:
        raise CompareError(f"no result table (no line {TABLE_HEADER!r})")
    rows: list[Row] = []
    for line in lines[starts[-1] + 1:]:
        s = line.strip()
        if not s.startswith("|"):
            break
        if re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", s):
            continue
        cells = [c.strip() for c in s.strip("|").split("|")]
        if len(cells) != 4:
            raise CompareError(f"table row with {len(cells)} cells, not 4: {line!r}")
        rows.append(Row(*cells))
    if not rows:
        raise CompareError("the result table has no rows")
    return rows


@dataclass(frozen=True)
class Checkpoint:
    mb: float
    seconds: float
    mbps: float


@dataclass
class Figures:
    """The figures of one benchmark's table that the comparison uses (throughputs as printed)."""

    name: str
    version: str = ""
    peak_gflops: float | None = None
    # (kind, stat) -> steps/s; kind "compute" | "data", stat "mean" | "best"
    steps: dict[tuple[str, str], float] = field(default_factory=dict)
    disk_mib: int | None = None
    disk_write: float | None = None
    disk_read_label: str | None = None  # None: no read row at all
    disk_read: float | None = None  # None with a label: the read was refused (no figure)
    disk_read_direct: bool = False
    # (model, op) -> figures; op "save" | "verify" | "load"
    checkpoints: dict[tuple[str, str], Checkpoint] = field(default_factory=dict)


_PEAK = re.compile(r"^\*\*matrix-multiply peak\*\*")
_STEP = re.compile(
    r"^training step (?P<model>\S+) batch (?P<batch>\d+) "
    r"(?P<kind>incl\. data generation|compute only \(fwd\+bwd\+AdamW\)) \((?P<stat>mean|best step)\)$"
)
_DISK_WRITE = re.compile(r"^disk sequential write \+ fsync \((?P<mib>\d+) MiB\)$")
_DISK_READ = re.compile(r"^disk sequential read \((?P<how>.*)\)$")
_CKPT = re.compile(r"^checkpoint (?P<model>\d+(?:-\d+)+) \((?P<mb>[0-9.]+) MB\) (?P<op>save|verify|load) \(")

_V_GFLOPS = re.compile(r"^(?P<v>[0-9.]+) GFLOP/s$")
_V_STEPS = re.compile(r"^(?P<v>[0-9.]+) steps/s \(")
_V_MBPS = re.compile(r"^(?P<v>[0-9.]+) MB/s$")
_V_SEC_MBPS = re.compile(r"^(?P<s>[0-9.]+) s, (?P<v>[0-9.]+) MB/s$")


def _number(pattern: re.Pattern[str], row: Row, group: str = "v") -> float:
    m = pattern.match(row.value)
    if m is None:
        raise CompareError(f"row {row.label!r}: unexpected value {row.value!r}")
    return float(m.group(group))


def version_line(name: str, text: str) -> str:
    """ND4J's 'ND4J <backend>, BLAS ...' line, or bench.py's 'torch <version>, device ...' line."""
    prefix = re.compile(r"^ND4J \S+, BLAS " if name == ND4J else r"^torch \S+, device ")
    for line in text.splitlines():
        if prefix.match(line):
            return line.strip()
    return ""


def extract(name: str, text: str) -> Figures:
    """Parses one benchmark's output; raises CompareError if the table is missing or malformed."""
    f = Figures(name, version=version_line(name, text))
    for row in parse_table(text):
        if _PEAK.match(row.label):
            f.peak_gflops = _number(_V_GFLOPS, row)
        elif m := _STEP.match(row.label):
            if m["model"] != BENCH_MODEL or int(m["batch"]) != BENCH_BATCH:
                raise CompareError(f"row {row.label!r}: model/batch is not {BENCH_MODEL} batch {BENCH_BATCH}")
            kind = "data" if m["kind"].startswith("incl.") else "compute"
            stat = "mean" if m["stat"] == "mean" else "best"
            f.steps[(kind, stat)] = _number(_V_STEPS, row)
        elif m := _DISK_WRITE.match(row.label):
            f.disk_mib = int(m["mib"])
            f.disk_write = _number(_V_MBPS, row)
        elif m := _DISK_READ.match(row.label):
            f.disk_read_label = m["how"]
            f.disk_read_direct = m["how"].startswith("O_DIRECT, bypasses")
            if _V_MBPS.match(row.value):
                f.disk_read = _number(_V_MBPS, row)
            else:  # bench.py: "refused (...)" when the file system does not allow O_DIRECT
                f.disk_read = None
                f.disk_read_direct = False
        elif m := _CKPT.match(row.label):
            key = (m["model"], m["op"])
            if key not in f.checkpoints:  # --large-hidden 1024 measures the same model twice: keep the first
                f.checkpoints[key] = Checkpoint(
                    float(m["mb"]), _number(_V_SEC_MBPS, row, "s"), _number(_V_SEC_MBPS, row, "v"))
    return f


def model_name(hidden: int) -> str:
    return f"784-{hidden}-{hidden}-10"


def missing(f: Figures, large_hidden: int) -> list[str]:
    """What the comparison needs and f lacks (empty: complete)."""
    out: list[str] = []
    if f.peak_gflops is None:
        out.append("**matrix-multiply peak**")
    for kind, text in (("compute", "compute only (fwd+bwd+AdamW)"), ("data", "incl. data generation")):
        for stat, stext in (("mean", "mean"), ("best", "best step")):
            if (kind, stat) not in f.steps:
                out.append(f"training step {BENCH_MODEL} batch {BENCH_BATCH} {text} ({stext})")
    if f.disk_write is None:
        out.append("disk sequential write + fsync")
    if f.disk_read_label is None:
        out.append("disk sequential read")
    for model in dict.fromkeys((BENCH_MODEL, model_name(large_hidden))):
        for op in ("save", "verify", "load"):
            if (model, op) not in f.checkpoints:
                out.append(f"checkpoint {model} {op}")
    return out


# ---------------------------------------------------------------------------------------------------
# Comparison


def ratio(nd4j: float | None, torch: float | None) -> str:
    """PyTorch ÷ ND4J of two throughputs (>1: PyTorch faster); '—' when either is missing or zero."""
    if nd4j is None or torch is None or nd4j <= 0 or torch <= 0:
        return "—"
    return f"{torch / nd4j:.2f}×"


def pct(part: float | None, whole: float | None) -> str:
    if part is None or whole is None or whole <= 0:
        return "—"
    return f"{100 * part / whole:.0f}%"


def _num(v: float | None, fmt: str) -> str:
    return "—" if v is None else format(v, fmt)


COLUMNS = ("measurement", ND4J, TORCH, "PyTorch ÷ ND4J", "save as % of own disk write (ND4J / PyTorch)")


def compare(nd4j: Figures, torch: Figures, large_hidden: int) -> list[tuple[str, str, str, str, str]]:
    """The comparison rows (cells as printed). Both Figures must be complete (see missing())."""
    rows: list[tuple[str, str, str, str, str]] = []
    rows.append(("**matrix-multiply peak** (best sgemm 512/1024/2048), GFLOP/s",
                 _num(nd4j.peak_gflops, ".1f"), _num(torch.peak_gflops, ".1f"),
                 ratio(nd4j.peak_gflops, torch.peak_gflops), ""))
    for kind, text in (("compute", "compute only (fwd+bwd+AdamW)"), ("data", "incl. data generation")):
        for stat, stext in (("mean", "mean"), ("best", "best step")):
            a, b = nd4j.steps.get((kind, stat)), torch.steps.get((kind, stat))
            bold = "**" if (kind, stat) == ("compute", "best") else ""
            rows.append((f"{bold}training step {BENCH_MODEL} batch {BENCH_BATCH} {text} ({stext}){bold}, steps/s",
                         _num(a, ".2f"), _num(b, ".2f"), ratio(a, b), ""))
    mib = nd4j.disk_mib if nd4j.disk_mib is not None else torch.disk_mib
    rows.append((f"disk sequential write + fsync ({mib} MiB), each benchmark's own, MB/s",
                 _num(nd4j.disk_write, ".0f"), _num(torch.disk_write, ".0f"),
                 ratio(nd4j.disk_write, torch.disk_write), ""))

    def read_cell(f: Figures) -> str:
        if f.disk_read is None:
            return "refused"
        return f"{f.disk_read:.0f}" + ("" if f.disk_read_direct else " (page cache, O_DIRECT refused)")

    rows.append(("disk sequential read (O_DIRECT), each benchmark's own, MB/s", read_cell(nd4j), read_cell(torch),
                 ratio(nd4j.disk_read, torch.disk_read) if nd4j.disk_read_direct and torch.disk_read_direct else "—",
                 ""))
    for model in dict.fromkeys((BENCH_MODEL, model_name(large_hidden))):
        for op, what in (("save", "write+fsync+SHA-256+rename"),
                         ("verify", "read+SHA-256, page cache hot"),
                         ("load", "verify+read+apply, page cache hot")):
            a_ck, b_ck = nd4j.checkpoints.get((model, op)), torch.checkpoints.get((model, op))
            if a_ck is None or b_ck is None:
                continue
            size = (f"{a_ck.mb:.1f} MB" if f"{a_ck.mb:.1f}" == f"{b_ck.mb:.1f}"
                    else f"ND4J {a_ck.mb:.1f} MB, PyTorch {b_ck.mb:.1f} MB")
            own = ""
            if op == "save":
                own = f"{pct(a_ck.mbps, nd4j.disk_write)} / {pct(b_ck.mbps, torch.disk_write)}"
            rows.append((f"checkpoint {model} ({size}) {op} ({what}), best of 3",
                         f"{a_ck.seconds:.3f} s, {a_ck.mbps:.0f} MB/s", f"{b_ck.seconds:.3f} s, {b_ck.mbps:.0f} MB/s",
                         ratio(a_ck.mbps, b_ck.mbps), own))
    return rows


def markdown(title: str, facts: Sequence[str], rows: Sequence[Sequence[str]], notes: Sequence[str]) -> str:
    """Same shape as the Java benchmarks' tables (dev.phoenix.bench.Table): title, table, notes."""
    out = [f"#### {title}", ""]
    out += [f"- {x}" for x in facts]
    if facts:
        out.append("")
    out.append("| " + " | ".join(COLUMNS) + " |")
    out.append("|" + " --- |" * len(COLUMNS))
    out += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
    for n in notes:
        out += ["", n]
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------------------
# Running


def machine() -> str:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    model = "unknown CPU"
    mem = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f", {int(line.split()[1]) / 2**20:.1f} GiB RAM"
                break
    except OSError:
        pass
    return f"{cpus} vCPU (nproc), {model}{mem}"


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


@dataclass(frozen=True)
class Run:
    name: str
    log: Path
    seconds: float
    output: str


def run_bench(name: str, cmd: list[str], env: dict[str, str], log: Path, timeout: float,
              echo: Callable[[str], None]) -> Run:
    """Runs one benchmark with stdout+stderr into log (and echoed line by line); raises CompareError on failure."""
    t0 = time.monotonic()
    timed_out = threading.Event()
    with open(log, "w", encoding="utf-8") as out:
        try:
            proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True, errors="replace", bufsize=1)
        except OSError as e:
            raise CompareError(f"{name} benchmark could not start ({e}): {shlex.join(cmd)}") from e

        def kill() -> None:
            timed_out.set()
            proc.kill()

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                out.write(line)
                out.flush()
                echo(f"  [{name}] {line.rstrip()}")
            rc = proc.wait()
        finally:
            timer.cancel()
    dt = time.monotonic() - t0
    if timed_out.is_set():
        raise CompareError(f"{name} benchmark timed out after {timeout:.0f} s (log {log})")
    if rc != 0:
        raise CompareError(f"{name} benchmark failed with exit code {rc} (log {log})")
    return Run(name, log, dt, log.read_text(encoding="utf-8", errors="replace"))


def figures(run: Run, large_hidden: int) -> Figures:
    try:
        f = extract(run.name, run.output)
    except CompareError as e:
        raise CompareError(f"{run.name} benchmark output: {e} (log {run.log})") from e
    lack = missing(f, large_hidden)
    if lack:
        raise CompareError(f"{run.name} benchmark output lacks row(s): {'; '.join(lack)} (log {run.log})")
    return f


def java_version(java: str) -> str:
    try:
        p = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return "java -version failed"
    lines = (p.stderr or p.stdout).splitlines()
    return lines[0].strip() if lines else "java -version printed nothing"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--java-cp", required=True,
                   help="class path of TrainerBenchmark (trainer-image/target/classes + its runtime "
                        "dependencies), or @FILE holding it")
    p.add_argument("--java", default="java", help="java executable (default: java)")
    p.add_argument("--java-opts", default="-Xmx2g", help="JVM options (default: -Xmx2g, as hack/bench.sh)")
    p.add_argument("--python", default=sys.executable,
                   help="interpreter with torch and phoenix-torch for bench.py (default: this one)")
    p.add_argument("--dir", type=Path, default=Path("/tmp/phoenix-trainers-bench"),
                   help="directory on the disk to measure, the same for both (default /tmp/phoenix-trainers-bench)")
    p.add_argument("--steps", type=int, default=30, help="timed training steps, both (default 30)")
    p.add_argument("--disk-mib", type=int, default=512, help="sequential disk test file, MiB (default 512)")
    p.add_argument("--large-hidden", type=int, default=4096,
                   help="hidden width of the larger checkpoint (default 4096: 240.5 MB); > 0, "
                        "ND4J's benchmark always measures it")
    p.add_argument("--threads", type=int, default=1, help="threads of both (OMP_NUM_THREADS; default 1)")
    p.add_argument("--timeout", type=float, default=1800, help="seconds per benchmark (default 1800)")
    p.add_argument("--log-dir", type=Path, default=None,
                   help="where both outputs are captured (default: DIR/logs/<UTC time>)")
    p.add_argument("--out", type=Path, default=None, help="append the comparison as Markdown to this file")
    a = p.parse_args(argv)
    for opt in ("steps", "disk_mib", "large_hidden", "threads"):
        if getattr(a, opt) <= 0:
            p.error(f"--{opt.replace('_', '-')} must be > 0")
    if a.java_cp.startswith("@"):
        try:
            a.java_cp = Path(a.java_cp[1:]).read_text().strip()
        except OSError as e:
            p.error(f"--java-cp {a.java_cp}: {e}")
    if not a.java_cp:
        p.error("--java-cp is empty")
    return a


def main(argv: Sequence[str] | None = None) -> int:
    a = parse_args(argv)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    a.dir = a.dir.resolve()
    log_dir: Path = (a.log_dir or a.dir / "logs" / stamp).resolve()
    a.dir.mkdir(parents=True, exist_ok=True)
    log_dir.mkdir(parents=True, exist_ok=True)

    env = dict(os.environ)
    env.update({"OMP_NUM_THREADS": str(a.threads), "MKL_NUM_THREADS": str(a.threads),
                "OPENBLAS_CORETYPE": env.get("OPENBLAS_CORETYPE", "Haswell")})
    env.pop("PHOENIX_BENCH_OUT", None)  # the benchmarks print; only this script appends
    common = ["--dir", str(a.dir), "--steps", str(a.steps), "--large-hidden", str(a.large_hidden)]
    nd4j_cmd = [a.java, *shlex.split(a.java_opts), "-cp", a.java_cp, ND4J_MAIN, *common, "--disk-mb", str(a.disk_mib)]
    torch_cmd = [a.python, str(BENCH_PY), *common, "--disk-mib", str(a.disk_mib), "--threads", str(a.threads),
                 "--device", "cpu"]
    (log_dir / "commands.txt").write_text(
        f"OMP_NUM_THREADS={a.threads} MKL_NUM_THREADS={a.threads} OPENBLAS_CORETYPE={env['OPENBLAS_CORETYPE']}\n"
        f"{shlex.join(nd4j_cmd)}\n{shlex.join(torch_cmd)}\n")

    def echo(line: str) -> None:
        print(line, flush=True)

    load0 = loadavg()
    print(f"[compare] {machine()}; load average {load0}; logs {log_dir}", flush=True)
    try:
        runs: list[Run] = []
        for name, cmd, log in ((ND4J, nd4j_cmd, log_dir / "nd4j.log"), (TORCH, torch_cmd, log_dir / "pytorch.log")):
            shown = [f"<{len(a.java_cp.split(os.pathsep))} class path entries: {log_dir / 'commands.txt'}>"
                     if c is a.java_cp else c for c in cmd]
            print(f"[compare] {name}: {shlex.join(shown)} (log {log})", flush=True)
            runs.append(run_bench(name, cmd, env, log, a.timeout, echo))
            print(f"[compare] {name} took {runs[-1].seconds:.0f} s; load average {loadavg()}", flush=True)
        nd4j, torch = figures(runs[0], a.large_hidden), figures(runs[1], a.large_hidden)
    except CompareError as e:
        print(f"[compare] ERROR: {e}", file=sys.stderr, flush=True)
        return 1

    facts = [
        f"machine: {machine()}; load average {load0} at start, {loadavg()} at the end",
        f"ND4J: {nd4j.version or '(no ND4J line in its output)'}; {java_version(a.java)}; "
        f"{runs[0].seconds:.0f} s",
        f"PyTorch: {torch.version or '(no torch line in its output)'}; Python "
        f"{_python_version(a.python)}; {runs[1].seconds:.0f} s",
        f"same run, one after the other (ND4J first), --dir {a.dir}, --steps {a.steps}, --disk-mib {a.disk_mib}, "
        f"--large-hidden {a.large_hidden}, {a.threads} thread(s) (OMP_NUM_THREADS={a.threads}, "
        f"OPENBLAS_CORETYPE={env['OPENBLAS_CORETYPE']}); logs {log_dir}",
    ]
    notes = [
        "PyTorch ÷ ND4J: ratio of the throughputs (GFLOP/s, steps/s, MB/s); > 1 = PyTorch faster. For the "
        "checkpoint rows it is the ratio of MB/s (for equal sizes = ND4J seconds ÷ PyTorch seconds). Both "
        "benchmarks time --steps steps after warm-up steps (best step = the fastest one) and report the best "
        "of 3 checkpoint save/verify/load; ND4J writes its own checkpoint format, PyTorch torch.distributed.checkpoint "
        "plus phoenix-torch's manifest, both with fsync and SHA-256 of every file.",
        "Save as % of own disk write: each framework's checkpoint save MB/s ÷ the sequential write + fsync that "
        "its own benchmark measured just before, on the same directory, in this run. The disk rows are each "
        "benchmark's own measurement of the same disk: their ratio shows how much the disk itself moved between "
        "the two halves of the run.",
    ]
    for f in (nd4j, torch):
        if not f.disk_read_direct:
            notes.append(f"{f.name}: the disk read was not O_DIRECT ({f.disk_read_label}): its figure is the page "
                         "cache's, not the disk's.")
    md = markdown(f"Trainers in one run: ND4J reference trainer vs PyTorch ({BENCH_MODEL}, batch {BENCH_BATCH}, "
                  "AdamW; checkpoint save/load vs the disk)", facts, compare(nd4j, torch, a.large_hidden), notes)
    print()
    print(md, flush=True)
    (log_dir / "comparison.md").write_text(md, encoding="utf-8")
    if a.out is not None:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        with open(a.out, "a", encoding="utf-8") as out:
            out.write(md + "\n")
        print(f"[compare] appended to {a.out}", flush=True)
    return 0


def _python_version(python: str) -> str:
    try:
        p = subprocess.run([python, "-c", "import platform; print(platform.python_version())"],
                           capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return p.stdout.strip() or "?"


if __name__ == "__main__":
    sys.exit(main())
