"""pytorch/bench/compare.py: parsing of both benchmarks' tables and the comparison, on captured sample
output (no benchmark runs; the two 'benchmarks' of the main() tests are shell scripts printing them)."""

from __future__ import annotations

import importlib.util
import stat
import sys
from pathlib import Path
from types import ModuleType

import pytest


def _load() -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "bench" / "compare.py"
    spec = importlib.util.spec_from_file_location("phoenix_bench_compare", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


compare = _load()

# TrainerBenchmark's stdout (ND4J), --disk-mb 512 --large-hidden 4096: the run in docs/benchmarks.md.
ND4J_OUT = """\
13:40:01.123 [main] INFO org.nd4j.linalg.factory.Nd4jBackend - Loaded [CpuBackend] backend
ND4J CpuBackend, BLAS OPENBLAS, omp threads 1, cores 2; OMP_NUM_THREADS=1 OPENBLAS_CORETYPE=Haswell
sgemm 512x512 (best of 74): 114.0 GFLOP/s
**matrix-multiply peak** (max of the above): 160.2 GFLOP/s

| measurement | value | reference | ratio |
|---|---|---|---|
| sgemm 512x512 (best of 74) | 114.0 GFLOP/s |  |  |
| sgemm 2048x2048 (best of 3) | 160.2 GFLOP/s |  |  |
| **matrix-multiply peak** (max of the above) | 160.2 GFLOP/s |  |  |
| training step 784-1024-1024-10 batch 256 incl. data generation (mean) | 6.12 steps/s (163.4 ms), 15.0 GFLOP/s | peak 160.2 GFLOP/s | 9% |
| training step 784-1024-1024-10 batch 256 incl. data generation (best step) | 9.57 steps/s (104.5 ms), 23.4 GFLOP/s | peak 160.2 GFLOP/s | 15% |
| training step 784-1024-1024-10 batch 256 compute only (fwd+bwd+AdamW) (mean) | 7.96 steps/s (125.7 ms), 19.5 GFLOP/s | peak 160.2 GFLOP/s | 12% |
| training step 784-1024-1024-10 batch 256 compute only (fwd+bwd+AdamW) (best step) | 12.10 steps/s (82.6 ms), 29.6 GFLOP/s | peak 160.2 GFLOP/s | 19% |
| synthetic data generation alone (teacher net, 256 samples) | mean 18.8 ms, best 10.1 ms |  |  |
| disk sequential write + fsync (512 MiB) | 293 MB/s |  |  |
| disk sequential read (O_DIRECT, bypasses the page cache) | 2049 MB/s |  |  |
| file read through the page cache (hot) | 7767 MB/s |  |  |
| checkpoint 784-1024-1024-10 (22.4 MB) save (write+fsync+SHA-256+rename) | 0.129 s, 174 MB/s | disk write 293 MB/s | 59% |
| checkpoint 784-1024-1024-10 (22.4 MB) verify (read+SHA-256, page cache hot) | 0.026 s, 853 MB/s | hot read 7767 MB/s | 11% |
| checkpoint 784-1024-1024-10 (22.4 MB) load (verify+materialise, page cache hot) | 0.080 s, 281 MB/s | cold disk read 2049 MB/s | 14% |
| checkpoint 784-4096-4096-10 (240.5 MB) save (write+fsync+SHA-256+rename) | 1.281 s, 188 MB/s | disk write 293 MB/s | 64% |
| checkpoint 784-4096-4096-10 (240.5 MB) verify (read+SHA-256, page cache hot) | 0.343 s, 701 MB/s | hot read 7767 MB/s | 9% |
| checkpoint 784-4096-4096-10 (240.5 MB) load (verify+materialise, page cache hot) | 0.944 s, 255 MB/s | cold disk read 2049 MB/s | 12% |
| SHA-256 (JDK MessageDigest, one core) | 1428 MB/s |  |  |
"""

# bench.py's stdout (PyTorch), same options: the run in pytorch/README.md, with bench.py's exact labels.
TORCH_OUT = """\
torch 2.15.0, device cpu, 1 thread(s), dir /tmp/phoenix-trainers-bench
  sgemm 512x512 (best of 60): 30.1 GFLOP/s  
  **matrix-multiply peak**: 34.7 GFLOP/s  

| measurement | value | reference | ratio |
|---|---|---|---|
| sgemm 512x512 (best of 60) | 30.1 GFLOP/s |  |  |
| sgemm 2048x2048 (best of 3) | 34.7 GFLOP/s |  |  |
| **matrix-multiply peak** | 34.7 GFLOP/s |  |  |
| training step 784-1024-1024-10 batch 256 incl. data generation (mean) | 5.03 steps/s (198.9 ms), 12.3 GFLOP/s | peak 34.7 GFLOP/s | 35% |
| training step 784-1024-1024-10 batch 256 incl. data generation (best step) | 10.49 steps/s (95.3 ms), 25.7 GFLOP/s | peak 34.7 GFLOP/s | 74% |
| training step 784-1024-1024-10 batch 256 compute only (fwd+bwd+AdamW) (mean) | 9.66 steps/s (103.5 ms), 23.6 GFLOP/s | peak 34.7 GFLOP/s | 68% |
| training step 784-1024-1024-10 batch 256 compute only (fwd+bwd+AdamW) (best step) | 10.94 steps/s (91.4 ms), 26.8 GFLOP/s | peak 34.7 GFLOP/s | 77% |
| synthetic data generation alone (teacher net, 256 samples) | mean 3.9 ms, best 2.7 ms |  |  |
| disk sequential write + fsync (512 MiB) | 386 MB/s |  |  |
| disk sequential read (O_DIRECT, bypasses the page cache) | 868 MB/s |  |  |
| file read through the page cache (hot) | 3788 MB/s |  |  |
| SHA-256 (hashlib, one core) | 554 MB/s |  |  |
| checkpoint 784-1024-1024-10 (22.4 MB) save (DCP write+fsync+SHA-256+manifest+rename) | 0.148 s, 151 MB/s | disk write 386 MB/s | 39% |
| checkpoint 784-1024-1024-10 (22.4 MB) verify (read+SHA-256, page cache hot) | 0.024 s, 935 MB/s | hot read 3788 MB/s | 25% |
| checkpoint 784-1024-1024-10 (22.4 MB) load (verify+DCP read+bit check+apply, page cache hot) | 0.104 s, 215 MB/s | cold disk read 868 MB/s | 25% |
| checkpoint 784-4096-4096-10 (240.5 MB) save (DCP write+fsync+SHA-256+manifest+rename) | 1.513 s, 159 MB/s | disk write 386 MB/s | 41% |
| checkpoint 784-4096-4096-10 (240.5 MB) verify (read+SHA-256, page cache hot) | 0.235 s, 1023 MB/s | hot read 3788 MB/s | 27% |
| checkpoint 784-4096-4096-10 (240.5 MB) load (verify+DCP read+bit check+apply, page cache hot) | 0.922 s, 261 MB/s | cold disk read 868 MB/s | 30% |
"""


def test_parse_table_reads_the_last_table_and_skips_the_separator() -> None:
    rows = compare.parse_table(ND4J_OUT)
    assert len(rows) == 18
    assert rows[0] == compare.Row("sgemm 512x512 (best of 74)", "114.0 GFLOP/s", "", "")
    assert rows[-1].label == "SHA-256 (JDK MessageDigest, one core)"
    assert rows[11] == compare.Row("checkpoint 784-1024-1024-10 (22.4 MB) save (write+fsync+SHA-256+rename)",
                                   "0.129 s, 174 MB/s", "disk write 293 MB/s", "59%")


def test_extract_both_frameworks() -> None:
    nd4j = compare.extract("ND4J", ND4J_OUT)
    torch = compare.extract("PyTorch", TORCH_OUT)
    assert nd4j.version.startswith("ND4J CpuBackend, BLAS OPENBLAS")
    assert torch.version == "torch 2.15.0, device cpu, 1 thread(s), dir /tmp/phoenix-trainers-bench"
    assert (nd4j.peak_gflops, torch.peak_gflops) == (160.2, 34.7)
    assert nd4j.steps == {("data", "mean"): 6.12, ("data", "best"): 9.57,
                          ("compute", "mean"): 7.96, ("compute", "best"): 12.10}
    assert torch.steps[("compute", "best")] == 10.94
    assert (nd4j.disk_mib, nd4j.disk_write, nd4j.disk_read, nd4j.disk_read_direct) == (512, 293, 2049, True)
    assert (torch.disk_write, torch.disk_read, torch.disk_read_direct) == (386, 868, True)
    assert nd4j.checkpoints[("784-4096-4096-10", "load")] == compare.Checkpoint(240.5, 0.944, 255)
    assert torch.checkpoints[("784-1024-1024-10", "save")] == compare.Checkpoint(22.4, 0.148, 151)
    assert len(nd4j.checkpoints) == len(torch.checkpoints) == 6
    assert compare.missing(nd4j, 4096) == [] and compare.missing(torch, 4096) == []


def test_ratios_are_pytorch_over_nd4j_throughputs() -> None:
    assert compare.ratio(12.10, 10.94) == "0.90×"
    assert compare.ratio(174, 151) == "0.87×"
    assert compare.ratio(None, 1.0) == "—" and compare.ratio(0.0, 1.0) == "—"
    assert compare.pct(151, 386) == "39%"


def test_comparison_rows() -> None:
    rows = compare.compare(compare.extract("ND4J", ND4J_OUT), compare.extract("PyTorch", TORCH_OUT), 4096)
    by = {r[0]: r[1:] for r in rows}
    assert len(rows) == 1 + 4 + 2 + 6
    assert by["**matrix-multiply peak** (best sgemm 512/1024/2048), GFLOP/s"] == ("160.2", "34.7", "0.22×", "")
    best = "**training step 784-1024-1024-10 batch 256 compute only (fwd+bwd+AdamW) (best step)**, steps/s"
    assert by[best] == ("12.10", "10.94", "0.90×", "")
    assert by["training step 784-1024-1024-10 batch 256 incl. data generation (mean), steps/s"] == (
        "6.12", "5.03", "0.82×", "")
    assert by["disk sequential write + fsync (512 MiB), each benchmark's own, MB/s"] == ("293", "386", "1.32×", "")
    assert by["disk sequential read (O_DIRECT), each benchmark's own, MB/s"] == ("2049", "868", "0.42×", "")
    save = "checkpoint 784-1024-1024-10 (22.4 MB) save (write+fsync+SHA-256+rename), best of 3"
    assert by[save] == ("0.129 s, 174 MB/s", "0.148 s, 151 MB/s", "0.87×", "59% / 39%")
    load = "checkpoint 784-4096-4096-10 (240.5 MB) load (verify+read+apply, page cache hot), best of 3"
    assert by[load] == ("0.944 s, 255 MB/s", "0.922 s, 261 MB/s", "1.02×", "")
    md = compare.markdown("t", ["fact"], rows, ["note"])
    assert md.splitlines()[4] == ("| measurement | ND4J | PyTorch | PyTorch ÷ ND4J | "
                                  "save as % of own disk write (ND4J / PyTorch) |")
    assert md.splitlines()[5] == "| --- | --- | --- | --- | --- |"
    assert "| " + save + " | 0.129 s, 174 MB/s | 0.148 s, 151 MB/s | 0.87× | 59% / 39% |" in md.splitlines()


def test_a_refused_o_direct_read_is_shown_not_divided() -> None:
    out = TORCH_OUT.replace("| disk sequential read (O_DIRECT, bypasses the page cache) | 868 MB/s |",
                            "| disk sequential read (O_DIRECT) | refused ([Errno 22] Invalid argument); "
                            "page cache NOT dropped |")
    torch = compare.extract("PyTorch", out)
    assert (torch.disk_read, torch.disk_read_direct) == (None, False)
    assert compare.missing(torch, 4096) == []
    rows = compare.compare(compare.extract("ND4J", ND4J_OUT), torch, 4096)
    read = [r for r in rows if r[0].startswith("disk sequential read")][0]
    assert read[1:] == ("2049", "refused", "—", "")


def test_missing_rows_are_named() -> None:
    dropped = ("compute only (fwd+bwd+AdamW) (best step)", "784-4096-4096-10 (240.5 MB) load")
    out = "\n".join(line for line in TORCH_OUT.splitlines() if not any(d in line for d in dropped))
    lack = compare.missing(compare.extract("PyTorch", out), 4096)
    assert lack == ["training step 784-1024-1024-10 batch 256 compute only (fwd+bwd+AdamW) (best step)",
                    "checkpoint 784-4096-4096-10 load"]
    # a smaller --large-hidden than the output's is missing altogether
    assert compare.missing(compare.extract("PyTorch", TORCH_OUT), 256) == [
        f"checkpoint 784-256-256-10 {op}" for op in ("save", "verify", "load")]


def test_malformed_output_raises() -> None:
    with pytest.raises(compare.CompareError, match="no result table"):
        compare.extract("ND4J", "Exception in thread main java.lang.NoClassDefFoundError\n")
    with pytest.raises(compare.CompareError, match="unexpected value 'Infinity MB/s'"):
        compare.extract("ND4J", ND4J_OUT.replace("| 293 MB/s |", "| Infinity MB/s |"))


def _script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def _fakes(tmp: Path, nd4j_out: str, nd4j_rc: int = 0) -> tuple[Path, Path]:
    (tmp / "nd4j.txt").write_text(nd4j_out)
    (tmp / "torch.txt").write_text(TORCH_OUT)
    java = _script(tmp / "java", f'[ "$1" = -version ] && {{ echo \'openjdk version "25"\' >&2; exit 0; }}\n'
                                 f'cat {tmp / "nd4j.txt"}; exit {nd4j_rc}\n')
    python = _script(tmp / "python", f'[ "$1" = -c ] && {{ echo 3.11.7; exit 0; }}\ncat {tmp / "torch.txt"}\n')
    return java, python


def test_main_end_to_end_with_captured_outputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    java, python = _fakes(tmp_path, ND4J_OUT)
    out = tmp_path / "tables.md"
    rc = compare.main(["--java", str(java), "--java-cp", "x.jar", "--python", str(python), "--dir",
                       str(tmp_path / "io"), "--log-dir", str(tmp_path / "logs"), "--out", str(out)])
    assert rc == 0
    md = out.read_text()
    assert md.startswith("#### Trainers in one run: ND4J reference trainer vs PyTorch")
    assert "- ND4J: ND4J CpuBackend, BLAS OPENBLAS" in md and 'openjdk version "25"' in md
    assert "- PyTorch: torch 2.15.0, device cpu" in md and "Python 3.11.7" in md
    assert "| 0.129 s, 174 MB/s | 0.148 s, 151 MB/s | 0.87× | 59% / 39% |" in md
    assert (tmp_path / "logs" / "nd4j.log").read_text() == ND4J_OUT
    assert (tmp_path / "logs" / "pytorch.log").read_text() == TORCH_OUT
    assert (tmp_path / "logs" / "comparison.md").read_text() == md[:-1]
    cmds = (tmp_path / "logs" / "commands.txt").read_text().splitlines()
    assert cmds[1].endswith("-cp x.jar dev.phoenix.trainer.bench.TrainerBenchmark --dir "
                            f"{tmp_path / 'io'} --steps 30 --large-hidden 4096 --disk-mb 512")
    assert "--disk-mib 512 --threads 1 --device cpu" in cmds[2]
    assert md in capsys.readouterr().out


def test_main_fails_naming_the_benchmark_and_its_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    java, python = _fakes(tmp_path, "ND4J CpuBackend, BLAS x\nboom\n", nd4j_rc=3)
    args = ["--java", str(java), "--java-cp", "x.jar", "--python", str(python), "--dir", str(tmp_path / "io"),
            "--log-dir", str(tmp_path / "logs")]
    assert compare.main(args) == 1
    err = capsys.readouterr().err
    assert f"ND4J benchmark failed with exit code 3 (log {tmp_path / 'logs' / 'nd4j.log'})" in err
    assert not (tmp_path / "logs" / "pytorch.log").exists()  # PyTorch is not run after a failed ND4J run

    no_write = ND4J_OUT.replace("| disk sequential write + fsync (512 MiB) | 293 MB/s |  |  |\n", "")
    java, python = _fakes(tmp_path, no_write)
    assert compare.main(args) == 1
    err = capsys.readouterr().err
    assert "ND4J benchmark output lacks row(s): disk sequential write + fsync" in err
    assert str(tmp_path / "logs" / "nd4j.log") in err
