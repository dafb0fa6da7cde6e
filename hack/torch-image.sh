#!/usr/bin/env bash
# Builds the PyTorch trainer image without a daemon or registry and prints the archive's path last:
#
#   hack/torch-image.sh          # phoenix/trainer-torch:cpu  -> pytorch/target/trainer-torch-cpu.tar
#   hack/torch-image.sh cuda     # phoenix/trainer-torch:cuda -> pytorch/target/trainer-torch-cuda.tar (not run here)
#
# The image is this machine's CPython plus the cached virtualenv's packages (hack/python-env.sh) and this
# checkout's phoenix-torch, as a Docker-format archive for `ctr images import` (the e2e suite imports it
# into its real nodes). How and why: pytorch/image/build_image.py. Its two big layers are cached under
# ~/.cache/phoenix/torch-image; with them cached only the small phoenix-torch layer and the archive are
# written.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VARIANT="${1:-cpu}"
VENV=$("$ROOT/hack/python-env.sh" | tail -n 1)
OUT="$ROOT/pytorch/target/trainer-torch-$VARIANT.tar"
mkdir -p "$ROOT/pytorch/target"
"$VENV/bin/python" "$ROOT/pytorch/image/build_image.py" --venv "$VENV" --variant "$VARIANT" --out "$OUT" >&2
echo "$OUT"
