#!/usr/bin/env bash
# Installs NVIDIA's CUDA compiler (nvcc, cicc/NVVM, the CUDA headers and runtime, CCCL) from
# NVIDIA's PyPI wheels into a cache folder, so the CUDA build of Strata compiles on any x86-64
# Linux machine — no GPU, driver or CUDA toolkit needed. Versions are pinned: CUDA 13.4 is the
# newest the cudarc crate behind candle knows (13.5's nvcc is refused by its build script).
# Prints the environment to use:
#   eval "$(scripts/setup_cuda.sh)"
#   cargo check --features cuda          # or: cargo build --release --features cuda
# CUDA_COMPUTE_CAP=80 compiles candle's kernels for Ampere and newer (PTX is compiled on first use
# for the GPU at hand: Hopper, Blackwell); set it before running this to target another.
set -euo pipefail
version=13.4.92
cccl=13.3.5.0.6
root="${STRATA_CUDA_DIR:-$HOME/.cache/strata-cuda}/$version"
cuda="$root/nvidia/cu13"
if [ ! -x "$cuda/bin/nvcc" ] || [ ! -x "$cuda/nvvm/bin/cicc" ]; then
  echo "installing the CUDA $version compiler from PyPI wheels into $root" >&2
  python3 -m pip install --quiet --disable-pip-version-check --no-deps --target "$root" \
    "nvidia-cuda-nvcc==$version" "nvidia-nvvm==$version" "nvidia-cuda-crt==$version" \
    "nvidia-cuda-runtime==$version" "nvidia-cuda-cccl==$cccl" >&2
fi
"$cuda/bin/nvcc" --version | tail -n 2 >&2
# The runtime library's unversioned name, for linkers that look for it.
[ -e "$cuda/lib/libcudart.so" ] || ln -s libcudart.so.13 "$cuda/lib/libcudart.so"
cat <<ENV
export PATH="$cuda/bin:$cuda/nvvm/bin:\$PATH"
export CUDA_HOME="$cuda" CUDA_PATH="$cuda" CUDA_ROOT="$cuda"
export CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-80}"
export LIBRARY_PATH="$cuda/lib\${LIBRARY_PATH:+:\$LIBRARY_PATH}"
ENV
