#!/usr/bin/env bash
# Fetch the wheels of benchmarks/gpu_wheels.txt for the GPU machine (CPython 3.12, manylinux x86-64,
# no internet there) into DEST (default .whl, in the repository root).
#
#   bash benchmarks/fetch_gpu_wheels.sh [DEST]
#
# Each one comes from PyPI as a binary wheel for cp312 (pip download --only-binary=:all:). A package
# with no such wheel (kenlm publishes only a source archive) is built from its sdist with a local
# Python 3.12 ($PY312, else python3.12 on PATH, else pyenv's 3.12), one compiler process at low
# priority; its wheel is tagged linux_x86_64 and needs only libstdc++, zlib, bzip2 and xz, which the
# GPU machine's Ubuntu has (built here against glibc 2.36 / GCC 12, older than there).
#
# Then, for the device tool: keep .whl out of git (echo /.whl/ >> .git/info/exclude) and name .whl
# in the run's carry; benchmarks/gpu_check.sh installs whatever is in .whl with
#   python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/... .whl/*.whl
# (about 16 MB of wheels: the working tree that travels is limited to 64 MiB).
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=${1:-.whl}
if [ -n "${PYTHON:-}" ]; then
  PY=$PYTHON
elif [ -x .venv/bin/python ]; then
  PY=.venv/bin/python
else
  PY=python3
fi
mkdir -p "$DEST"
PLATFORMS=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64)
shopt -s nocaseglob

mapfile -t SPECS < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' benchmarks/gpu_wheels.txt | grep -v '^$')
TO_BUILD=()
for spec in "${SPECS[@]}"; do
  name=${spec%%==*}
  version=${spec#*==}
  stem=$(echo "$name" | tr '-' '_')
  if compgen -G "$DEST/${stem}-${version}-*.whl" >/dev/null; then
    echo "have        $spec"
    continue
  fi
  if "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    "${PLATFORMS[@]}" -d "$DEST" "$spec" 2>/dev/null; then
    echo "downloaded  $spec"
  else
    echo "no cp312 manylinux wheel on PyPI: $spec (will build it)"
    TO_BUILD+=("$spec")
  fi
done

MISSING=()
if [ ${#TO_BUILD[@]} -gt 0 ]; then
  # The first candidate that really runs as 3.12 (a pyenv shim on PATH may not).
  found=""
  for candidate in ${PY312:-} $(command -v python3.12 || true) \
    $(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12*/bin/python3.12 2>/dev/null || true); do
    if "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null; then
      found=$candidate
      break
    fi
  done
  PY312=$found
  for spec in "${TO_BUILD[@]}"; do
    name=${spec%%==*}
    if [ -z "$PY312" ]; then
      echo "cannot build $spec: no Python 3.12 here (set PY312)"
      MISSING+=("$spec")
      continue
    fi
    echo "building    $spec with $PY312 (single-threaded, niced; a few minutes)"
    if MAKEFLAGS=-j1 CMAKE_BUILD_PARALLEL_LEVEL=1 nice -n 19 "$PY312" -m pip wheel -q --no-deps \
      --no-binary="$name" -w "$DEST" "$spec"; then
      echo "built       $spec"
    else
      MISSING+=("$spec")
    fi
  done
fi

echo "wheels in $DEST ($(du -sh "$DEST" | cut -f1)):"
ls -1 "$DEST"
if [ ${#MISSING[@]} -gt 0 ]; then
  echo "MISSING: ${MISSING[*]}"
  exit 1
fi
