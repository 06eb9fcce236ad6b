#!/usr/bin/env bash
# Sets up a Python environment for wav2vec-hf: a virtual environment in .venv (or the one that is
# already active), torch, the package with every extra and its test tools (`.[all,test]`: what the
# test suite and `make demo` need), and pyctcdecode (the reference decoder the tests compare with;
# the package itself never imports it).
#
# torch: an installed torch (CPU or CUDA) is kept as it is. Otherwise the CPU build 2.13.0 is taken
# when pip can find it without an index (machines that keep wheels on disk), the CPU index of
# PyTorch when there is no NVIDIA driver, and the default (CUDA) build only on GPU machines.
#
# pyctcdecode: its only release declares numpy<2, which would make pip downgrade numpy and break
# pyarrow (and so `import datasets`). It runs fine with numpy 2, so it is installed with --no-deps;
# its runtime need (pygtrie) is in our `test` extra.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${VIRTUAL_ENV:-${WAV2VEC_HF_VENV:-.venv}}"
if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating virtual environment in $VENV"
  "${PYTHON:-python3}" -m venv "$VENV"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip --disable-pip-version-check -q)

if "$PY" -c "import torch" >/dev/null 2>&1; then
  echo "[setup] keeping installed torch $("$PY" -c 'import torch; print(torch.__version__)')"
elif local_wheels=$(mktemp -d) && "${PIP[@]}" download --no-deps --no-index -d "$local_wheels" "torch==2.13.0" >/dev/null 2>&1; then
  # A torch 2.13.0 wheel lies on this machine's disk (pip's find-links): install it, its
  # dependencies from the index.
  "${PIP[@]}" install "$local_wheels"/torch-*.whl
  echo "[setup] installed the local wheel $(basename "$local_wheels"/torch-*.whl)"
elif ! command -v nvidia-smi >/dev/null 2>&1; then
  echo "[setup] no NVIDIA driver: installing the CPU build of torch"
  "${PIP[@]}" install torch --index-url https://download.pytorch.org/whl/cpu
else
  echo "[setup] installing torch (CUDA build)"
  "${PIP[@]}" install torch
fi

echo "[setup] installing wav2vec-hf and its dependencies"
"${PIP[@]}" install -e ".[all,test]"
"${PIP[@]}" install --no-deps "pyctcdecode==0.5.0"
"$PY" -c "import torch, transformers, datasets, pyarrow, accelerate, evaluate, jiwer, pyctcdecode, kenlm, soundfile, huggingface_hub, sentencepiece, matplotlib, espeakng_loader, tensorboard" \
  || { echo "[setup] the environment does not import; see the messages above" >&2; exit 1; }
touch "$VENV/.wav2vec_hf_installed"
echo "[setup] ready: $PY"
