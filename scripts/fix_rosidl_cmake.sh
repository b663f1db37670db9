#!/usr/bin/env bash
# The rosidl wheels' exported CMake targets hard-code the manylinux build interpreter
# (/opt/python/cp3XX-cp3XX/...). Point them at this venv's Python and numpy headers. Idempotent.
set -euo pipefail
V=${1:?usage: fix_rosidl_cmake.sh VENV}
PY=$V/bin/python
TAG=$($PY -c "import sys; print(f'cp{sys.version_info[0]}{sys.version_info[1]}')")
VER=$($PY -c "import sys; print(f'{sys.version_info[0]}.{sys.version_info[1]}')")
PYINC=$($PY -c "import sysconfig; print(sysconfig.get_paths()['include'])")
NPINC=$($PY -c "import numpy; print(numpy.get_include())")
{ grep -rl "/opt/python/$TAG-$TAG/" "$V/share" --include='*.cmake' || true; } | xargs -r sed -i \
  -e "s#/opt/python/$TAG-$TAG/include/python$VER#$PYINC#g" \
  -e "s#/opt/python/$TAG-$TAG/lib/python$VER/site-packages/numpy/_core/include#$NPINC#g"
