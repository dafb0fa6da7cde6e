"""Build the PyTorch trainer image (``phoenix/trainer-torch:cpu`` or ``:cuda``) without a daemon or a registry.

    python pytorch/image/build_image.py --venv VENV --variant cpu --out pytorch/target/trainer-torch-cpu.tar

No base image can be pulled here (no registry is reachable), so the image is assembled the way Phoenix's
Java images are (``hack/image-rootfs.sh`` + Jib on ``scratch``): from this machine's Python and the cached
virtualenv of ``hack/python-env.sh``, into a Docker-format archive that ``ctr images import`` reads. Three
layers, most stable first, so that a change of the library rebuilds only the small last one:

1. ``runtime``: this machine's CPython (``sys.base_prefix``, without its tests, IDLE, tkinter and static
   library) under ``/opt/python``, every system library that any ELF file of the image needs (resolved
   with ``ldd``, like ``hack/image-rootfs.sh``), ``/bin/sh`` (dash: manifests such as TorchTitan's run
   ``sh -c``), ``/etc/passwd`` with user 65532, a 1777 ``/tmp``.
2. ``packages``: the distributions that ``requirements-cpu.txt`` (or ``-cuda``) and TorchTitan need, copied
   from the venv's site-packages by their installed ``RECORD`` (the venv is not relocatable, its
   site-packages is). The CPU variant drops ``triton`` (GPU kernels only) and every NVIDIA library that no
   library of the image links (cuDNN's engines, cuSOLVERMg, profiler libraries: ~1.1 GB): PyPI has no
   CPU-only torch wheel, and its CUDA wheel links cuBLAS, cuDNN's loader, NCCL and friends just to import.
3. ``phoenix-torch``: this checkout's ``pytorch/src/phoenix_torch``, a ``phoenix-agent`` console script, and
   the offline assets TorchTitan's debug model reads (``/work/tests/assets``, ``examples.titan_assets``).

Layers 1 and 2 depend only on the venv's frozen versions, this machine's Python and libraries, and this
script; they are cached under ``--cache`` (default ``~/.cache/phoenix/torch-image``). Layers are
uncompressed tars: containerd unpacks them without a decompression pass (a 3 GB gzip costs minutes on two
cores, and the archive never leaves the machine).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

IMAGE = "phoenix/trainer-torch"
PY_ROOT = "opt/python"
# Not needed to run a trainer: the standard library's tests and GUI, the static library, pip's bootstrap.
STDLIB_SKIP = {"test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3", "site-packages"}
USER = 65532


@dataclass(frozen=True)
class Variant:
    name: str
    requirements: Path
    drop: frozenset[str]  # distributions left out although required
    prune_nvidia: bool


def variant(name: str) -> Variant:
    here = Path(__file__).resolve().parent
    if name == "cpu":
        return Variant("cpu", here / "requirements-cpu.txt", frozenset({"triton"}), True)
    if name == "cuda":
        return Variant("cuda", here / "requirements-cuda.txt", frozenset(), False)
    raise SystemExit(f"build_image: unknown variant {name!r} (cpu or cuda)")


def log(msg: str) -> None:
    print(f"[torch-image] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------- packages


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_roots(req: Path) -> list[str]:
    roots = []
    for line in req.read_text().splitlines():
        m = re.match(r"\s*([A-Za-z0-9_.-]+)", line.split("#", 1)[0])
        if m:
            roots.append(m.group(1))
    return roots


def closure(site: Path, roots: list[str], drop: frozenset[str]) -> list[metadata.Distribution]:
    """The installed distributions ``roots`` need, by their metadata's ``Requires-Dist`` (markers evaluated
    for this interpreter, requested extras followed), as pip resolved them into the venv."""
    from packaging.requirements import Requirement  # the venv's packaging (pinned through torch's deps)

    dists = {_norm(d.metadata["Name"]): d for d in metadata.distributions(path=[str(site)])}
    dropped = {_norm(d) for d in drop}
    out: dict[str, metadata.Distribution] = {}
    done: set[tuple[str, str]] = set()
    todo: list[tuple[str, str]] = [(_norm(r), "") for r in roots]
    while todo:
        n, extra = todo.pop()
        if (n, extra) in done or n in dropped:
            continue
        done.add((n, extra))
        d = dists.get(n)
        if d is None:
            raise SystemExit(f"build_image: {n} is required but not installed in {site}")
        out[n] = d
        for spec in d.requires or []:
            r = Requirement(spec)
            # A requirement counts if it applies here without extras or with the extra asked for
            # (torch asks for cuda-toolkit[cublas,cudart,...]: its CUDA runtime comes through extras).
            if r.marker is not None and not r.marker.evaluate({"extra": extra}):
                continue
            todo.extend((_norm(r.name), e) for e in ["", *sorted(r.extras)])
    return sorted(out.values(), key=lambda d: _norm(d.metadata["Name"]))


def package_files(site: Path, dists: list[metadata.Distribution]) -> list[Path]:
    """Every file the distributions installed into site-packages (console scripts in the venv's bin/ are
    left out: their shebangs name the venv's interpreter)."""
    files: set[Path] = set()
    for d in dists:
        for f in d.files or []:
            rel = Path(os.path.normpath(f))
            if rel.parts[0] == ".." or not ((site / rel).is_file() or (site / rel).is_symlink()):
                continue
            files.add(rel)
    return sorted(files)


def needed(elf: Path) -> list[str]:
    out = subprocess.run(["readelf", "-d", str(elf)], capture_output=True, text=True).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", out)


def is_elf(p: Path) -> bool:
    try:
        with p.open("rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def prune_nvidia(site: Path, files: list[Path]) -> list[Path]:
    """Drops the NVIDIA libraries no other library of the image links: what ``import torch`` (and any CPU
    kernel) loads is the DT_NEEDED closure of torch's own libraries; the rest is dlopen'ed only on a GPU."""
    libs = [f for f in files if ".so" in f.name and is_elf(site / f)]
    by_name: dict[str, list[Path]] = {}
    for f in libs:
        by_name.setdefault(f.name, []).append(f)
    keep: set[Path] = set()
    stack = [f for f in libs if f.parts[0] != "nvidia"]
    seen: set[Path] = set()
    while stack:
        f = stack.pop()
        if f in seen:
            continue
        seen.add(f)
        for n in needed(site / f):
            for g in by_name.get(n, []):
                if g.parts[0] == "nvidia":
                    keep.add(g)
                stack.append(g)
    dropped = [f for f in libs if f.parts[0] == "nvidia" and f not in keep]
    mb = sum((site / f).stat().st_size for f in dropped) / 2**20
    log(f"CPU variant: {len(dropped)} NVIDIA libraries nothing links left out ({mb:.0f} MB), {len(keep)} kept")
    gone = set(dropped)
    return [f for f in files if f not in gone]


# ---------------------------------------------------------------------------------------------- runtime


def system_libraries(elves: list[Path]) -> dict[str, Path]:
    """name in the image → host file, for every library outside the image that ``ldd`` resolves for
    ``elves`` (run where they are, so their $ORIGIN run paths resolve within the venv)."""
    out: dict[str, Path] = {}
    for i in range(0, len(elves), 200):
        r = subprocess.run(["ldd", *map(str, elves[i:i + 200])], capture_output=True, text=True)
        for line in r.stdout.splitlines():
            m = re.match(r"\s*(\S+) => (/\S+) \(", line)
            m2 = re.match(r"\s*(/lib64/\S+) \(", line)
            if m and (m.group(2).startswith("/lib/") or m.group(2).startswith("/usr/lib/")):
                out[f"lib/x86_64-linux-gnu/{m.group(1)}"] = Path(m.group(2))
            elif m2:
                out[m2.group(1).lstrip("/")] = Path(m2.group(1))
            elif m and m.group(2).startswith(sys.base_prefix):
                # libpython: its run path is the build machine's prefix; the image has it in the default path
                out[f"lib/x86_64-linux-gnu/{m.group(1)}"] = Path(m.group(2))
    return out


class Layer:
    """An uncompressed layer tar; entries added parents first, owned by root, modes and mtimes kept."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tar = tarfile.open(path, "w", format=tarfile.PAX_FORMAT)
        self.dirs: set[str] = set()

    def _parents(self, name: str) -> None:
        parts = name.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d not in self.dirs:
                self.dirs.add(d)
                self.dir(d, 0o755, add_parents=False)

    def dir(self, name: str, mode: int, add_parents: bool = True) -> None:
        if add_parents:
            self._parents(name)
        self.dirs.add(name)
        ti = tarfile.TarInfo(name)
        ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, mode, 0
        self.tar.addfile(ti)

    def file(self, name: str, src: Path) -> None:
        self._parents(name)
        ti = self.tar.gettarinfo(str(src), arcname=name)
        ti.uid = ti.gid = 0
        ti.uname = ti.gname = "root"
        if ti.isfile():
            with src.open("rb") as f:
                self.tar.addfile(ti, f)
        else:
            self.tar.addfile(ti)

    def data(self, name: str, content: bytes, mode: int = 0o644) -> None:
        self._parents(name)
        ti = tarfile.TarInfo(name)
        ti.size, ti.mode, ti.mtime = len(content), mode, 0
        self.tar.addfile(ti, io.BytesIO(content))

    def close(self) -> tuple[str, int]:
        self.tar.close()
        return sha256(self.path), self.path.stat().st_size


def sha256(p: Path) -> str:
    h = hashlib.sha256()
    with p.open("rb") as f:
        while b := f.read(1 << 20):
            h.update(b)
    return h.hexdigest()


def stdlib_files(prefix: Path) -> list[tuple[str, Path]]:
    lib = prefix / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    out = [(f"{PY_ROOT}/bin/python{sys.version_info[0]}.{sys.version_info[1]}",
            prefix / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}")]
    for root, dirs, files in os.walk(lib):
        rel = Path(root).relative_to(lib)
        if rel == Path("."):
            dirs[:] = [d for d in dirs if d not in STDLIB_SKIP and not d.startswith("config-")]
        for f in files:
            out.append((f"{PY_ROOT}/lib/{lib.name}/{rel / f}".replace("/./", "/"), Path(root) / f))
    return sorted(out)


def build_runtime(layer: Path, site: Path, pkg_files: list[Path]) -> None:
    prefix = Path(sys.base_prefix)
    std = stdlib_files(prefix)
    elves = [src for _, src in std if is_elf(src)] + [site / f for f in pkg_files if ".so" in f.name
                                                        and is_elf(site / f)]
    libs = system_libraries(elves + [Path("/bin/dash")])
    for lib in ("libgcc_s.so.1", "libstdc++.so.6"):  # loaded by name (dlopen) by some wheels' loaders
        host = Path("/lib/x86_64-linux-gnu") / lib
        if host.exists():
            libs.setdefault(f"lib/x86_64-linux-gnu/{lib}", host)
    t = Layer(layer)
    for name, src in std:
        t.file(name, src)
    py = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    t.tar.addfile(_link(f"{PY_ROOT}/bin/python3", py))
    t.tar.addfile(_link(f"{PY_ROOT}/bin/python", py))
    for name, src in sorted(libs.items()):
        t.file(name, src.resolve())
    t.file("bin/sh", Path("/bin/dash"))
    t.data("etc/passwd", f"root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:{USER}:{USER}:nonroot:/home/nonroot:"
                         "/sbin/nologin\n".encode())
    t.data("etc/group", f"root:x:0:\nnonroot:x:{USER}:\n".encode())
    t.dir("tmp", 0o1777)
    t.dir("home/nonroot", 0o755)
    t.dir("var/cache/torchinductor", 0o1777)
    t.close()
    log(f"runtime layer: Python {sys.version.split()[0]} from {prefix}, {len(libs)} system libraries")


def _link(name: str, target: str) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type, ti.linkname, ti.mode, ti.mtime = tarfile.SYMTYPE, target, 0o777, 0
    return ti


def build_packages(layer: Path, site: Path, files: list[Path]) -> None:
    py = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    t = Layer(layer)
    t.dirs.update({PY_ROOT, f"{PY_ROOT}/lib", f"{PY_ROOT}/lib/{py}"})
    t.dir(f"{PY_ROOT}/lib/{py}/site-packages", 0o755, add_parents=False)
    for f in files:
        t.file(f"{PY_ROOT}/lib/{py}/site-packages/{f.as_posix()}", site / f)
    t.close()


AGENT_SCRIPT = """#!/opt/python/bin/python3
import sys
from phoenix_torch.agent import main
sys.exit(main())
"""


def build_app(layer: Path, src: Path) -> None:
    py = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    t = Layer(layer)
    t.dirs.update({PY_ROOT, f"{PY_ROOT}/lib", f"{PY_ROOT}/lib/{py}", f"{PY_ROOT}/lib/{py}/site-packages",
                   f"{PY_ROOT}/bin"})
    for root, dirs, names in os.walk(src / "phoenix_torch"):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for n in sorted(names):
            p = Path(root) / n
            t.file(f"{PY_ROOT}/lib/{py}/site-packages/{p.relative_to(src).as_posix()}", p)
    t.data(f"{PY_ROOT}/bin/phoenix-agent", AGENT_SCRIPT.encode(), 0o755)
    # TorchTitan's debug model reads ./tests/assets/{tokenizer,c4_test}, which its wheel does not ship
    # (examples/torchtitan.yaml runs it with workingDir /work): 2 MB, written by our own generator.
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "phoenix_torch.examples.titan_assets", tmp], check=True,
                       capture_output=True, env={**os.environ, "PYTHONPATH": str(src)})
        for root, dirs, names in os.walk(Path(tmp) / "tests"):
            dirs.sort()
            for n in sorted(names):
                p = Path(root) / n
                t.file(f"work/{p.relative_to(tmp).as_posix()}", p)
    t.close()


# ---------------------------------------------------------------------------------------------- archive


def config(v: Variant, layers: list[str], labels: dict[str, str]) -> bytes:
    return json.dumps({
        "architecture": "amd64",
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {
            "Env": [f"PATH=/{PY_ROOT}/bin:/usr/bin:/bin",
                    "OMP_NUM_THREADS=1",
                    "PYTHONDONTWRITEBYTECODE=1",
                    "PYTHONUNBUFFERED=1",
                    "TORCHINDUCTOR_CACHE_DIR=/var/cache/torchinductor",
                    "HOME=/home/nonroot"],
            "Entrypoint": [f"/{PY_ROOT}/bin/python3"],
            "Cmd": ["-m", "phoenix_torch.examples.mlp"],
            "User": f"{USER}:{USER}",
            "WorkingDir": "/home/nonroot",
            "Labels": labels,
        },
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{d}" for d in layers]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": f"build_image.py {n}"}
                    for n in ("runtime", "packages", "phoenix-torch")],
    }, sort_keys=True).encode()


def write_archive(out: Path, tag: str, layers: list[tuple[Path, str]], cfg: bytes) -> None:
    cfg_name = hashlib.sha256(cfg).hexdigest() + ".json"
    manifest = [{"Config": cfg_name, "RepoTags": [tag], "Layers": [f"{d}/layer.tar" for _, d in layers]}]
    tmp = out.with_name(out.name + ".tmp")
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as t:
        for path, digest in layers:
            t.add(str(path), arcname=f"{digest}/layer.tar")
        for name, data in ((cfg_name, cfg), ("manifest.json", json.dumps(manifest).encode())):
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
    os.replace(tmp, out)


def cache_key(v: Variant, venv: Path, files: list[Path]) -> str:
    h = hashlib.sha256()
    h.update(Path(__file__).read_bytes())
    h.update(v.requirements.read_bytes())
    h.update(sys.version.encode())
    h.update((venv / "freeze.txt").read_bytes() if (venv / "freeze.txt").exists() else b"")
    h.update("\n".join(map(str, files)).encode())
    h.update(subprocess.run(["dpkg-query", "-W", "libc6", "libstdc++6", "zlib1g", "dash"],
                            capture_output=True, text=True).stdout.encode())
    return h.hexdigest()[:16]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--venv", type=Path, default=Path(sys.prefix))
    p.add_argument("--variant", default="cpu")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--src", type=Path, default=Path(__file__).resolve().parent.parent / "src")
    p.add_argument("--cache", type=Path,
                   default=Path(os.environ.get("PHOENIX_TORCH_IMAGE_CACHE",
                                               Path.home() / ".cache/phoenix/torch-image")))
    p.add_argument("--with-torchtitan", action=argparse.BooleanOptionalAction, default=True,
                   help="TorchTitan and its dependencies (for its checkpoint components and trainer)")
    a = p.parse_args()
    t0 = time.monotonic()
    v = variant(a.variant)
    site = next((a.venv / "lib").glob("python3.*/site-packages"))
    roots = requirement_roots(v.requirements) + (["torchtitan"] if a.with_torchtitan else [])
    dists = closure(site, roots, v.drop)
    files = [f for f in package_files(site, dists) if f.parts[0] != "bin"]
    if v.prune_nvidia:
        files = prune_nvidia(site, files)
    key = cache_key(v, a.venv, files)
    cache = a.cache / f"{v.name}-{key}"
    if not (cache / ".complete").exists():
        shutil.rmtree(cache, ignore_errors=True)
        cache.mkdir(parents=True)
        log(f"{len(dists)} distributions, {len(files)} files: building the runtime and packages layers "
            f"into {cache}")
        build_runtime(cache / "runtime.tar", site, files)
        build_packages(cache / "packages.tar", site, files)
        digests = {n: sha256(cache / f"{n}.tar") for n in ("runtime", "packages")}
        (cache / "digests.json").write_text(json.dumps(digests))
        (cache / "distributions.txt").write_text(
            "".join(f"{d.metadata['Name']}=={d.version}\n" for d in dists))
        (cache / ".complete").write_text(time.strftime("%FT%TZ\n", time.gmtime()))
    else:
        log(f"runtime and packages layers from cache {cache}")
    digests = json.loads((cache / "digests.json").read_text())
    with tempfile.TemporaryDirectory(dir=a.out.parent if a.out.parent.exists() else None) as tmp:
        app = Path(tmp) / "app.tar"
        build_app(app, a.src)
        app_digest = sha256(app)
        layers = [(cache / "runtime.tar", digests["runtime"]), (cache / "packages.tar", digests["packages"]),
                  (app, app_digest)]
        labels = {"org.opencontainers.image.title": "phoenix-trainer-torch",
                  "org.opencontainers.image.description":
                      f"Phoenix PyTorch trainer ({v.name}): phoenix-torch, torch, kubernetes, torchtitan",
                  "dev.phoenix.distributions": ",".join(f"{d.metadata['Name']}=={d.version}" for d in dists)}
        a.out.parent.mkdir(parents=True, exist_ok=True)
        write_archive(a.out, f"{IMAGE}:{v.name}", layers, config(v, [d for _, d in layers], labels))
    log(f"{IMAGE}:{v.name} -> {a.out} ({a.out.stat().st_size / 2**20:.0f} MiB) in {time.monotonic() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
