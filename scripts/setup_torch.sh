#!/usr/bin/env bash
# A Python with PyTorch for the PyTorch-export tests (tests/pytorch_export.rs) and the torchrun
# benchmark: a virtual environment in ~/.cache/strata-torch (or $STRATA_TORCH_ENV) with torch,
# safetensors, numpy and Pillow from PyPI. PyPI's Linux torch wheel pulls NVIDIA's CUDA libraries
# (about 5 GB in all) and runs on a CPU-only machine. Prints the Python's path; reuses the
# environment when it already imports everything.
#
#   export STRATA_TORCH_PYTHON=$(scripts/setup_torch.sh)
set -euo pipefail
VENV=${STRATA_TORCH_ENV:-$HOME/.cache/strata-torch}
if ! "$VENV/bin/python" -c "import torch, safetensors, numpy, PIL" >/dev/null 2>&1; then
  python3 -m venv "$VENV" >&2
  "$VENV/bin/pip" install -q --disable-pip-version-check torch safetensors numpy pillow >&2
fi
echo "$VENV/bin/python"
