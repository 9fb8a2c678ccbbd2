#!/usr/bin/env bash
# Builds Strata with --features cuda on any x86-64 Linux machine, GPU or not:
#   scripts/build_cuda.sh check|build|release [more cargo arguments]
# - the CUDA compiler comes from NVIDIA's PyPI wheels (scripts/setup_cuda.sh);
# - candle 0.11.1 is built patched so that the binary starts without NVIDIA's driver and says
#   "CUDA build, no NVIDIA GPU found — using the CPU" (upstream: huggingface/candle#3208; the
#   pull request that does the same, #3916, is not merged):
#     candle-core    cudarc's `dynamic-linking` → `dynamic-loading`: the driver, cuBLAS, cuRAND
#                    and NVRTC are opened when the GPU is first used, not when the program starts;
#     candle-kernels the CUDA runtime its MoE kernels call is linked statically
#                    (libcudart_static, which itself opens the driver when first used) instead
#                    of needing libcudart.so.13 at start.
#   The patched copies are made once from cargo's registry sources into the cache and passed
#   with `cargo --config patch.crates-io…` to a build of a copy of the sources, so CPU builds and
#   the repository's Cargo.lock stay as they are.
# Its own target folder ($STRATA_CUDA_TARGET_DIR, default ~/.cache/strata-cuda-target). `build`
# and `release` then check the binary: `--version` names cuda, and on a machine without a GPU a
# short training run says it uses the CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-check}"
shift || true
eval "$(scripts/setup_cuda.sh)"
export CARGO_TARGET_DIR="${STRATA_CUDA_TARGET_DIR:-$HOME/.cache/strata-cuda-target}"

patch_version=1
patched="${STRATA_CUDA_DIR:-$HOME/.cache/strata-cuda}/candle-0.11.1-dynamic-loading"
if [ "$(cat "$patched/version" 2>/dev/null)" != "$patch_version" ]; then
  cargo fetch -q
  core="$(cargo metadata --format-version 1 | python3 -c '
import json, sys
print(next(p["manifest_path"] for p in json.load(sys.stdin)["packages"]
           if p["name"] == "candle-core" and p["version"] == "0.11.1"))')"
  registry="$(dirname "$(dirname "$core")")"
  rm -rf "$patched" && mkdir -p "$patched"
  cp -r "$registry/candle-core-0.11.1" "$registry/candle-kernels-0.11.1" "$patched/"
  python3 - "$patched" <<'PY'
import pathlib, sys
root = pathlib.Path(sys.argv[1])
def edit(rel, old, new):
    f = root / rel
    text = f.read_text()
    assert text.count(old) == 1, f"{rel}: expected one '{old.strip()}'"
    f.write_text(text.replace(old, new))
edit("candle-core-0.11.1/Cargo.toml", '"dynamic-linking",', '"dynamic-loading",')
edit("candle-kernels-0.11.1/build.rs",
     'println!("cargo:rustc-link-lib=dylib=cudart");',
     'if let Ok(home) = env::var("CUDA_HOME") { println!("cargo:rustc-link-search=native={home}/lib"); }\n'
     '    println!("cargo:rustc-link-lib=static=cudart_static");\n'
     '    println!("cargo:rustc-link-lib=dylib=dl");\n'
     '    println!("cargo:rustc-link-lib=dylib=rt");\n'
     '    println!("cargo:rustc-link-lib=dylib=pthread");')
PY
  echo "$patch_version" > "$patched/version"
fi

# Built from a copy of the sources (kept, so only what changed recompiles): the patch rewrites
# Cargo.lock, and the repository's must stay as it is.
copy="${STRATA_CUDA_DIR:-$HOME/.cache/strata-cuda}/source"
rm -rf "$copy" && mkdir -p "$copy"
# tar keeps the files' times, so cargo sees unchanged files as unchanged.
# The .git folder comes along for the commit in `--version`.
tar -c --exclude=./target --exclude=./dist --exclude='*.runs' \
  --exclude=./fuzz/corpus --exclude=./fuzz/artifacts --exclude=./fuzz/logs . | tar -x -C "$copy"
cd "$copy"
patch_args=(--config "patch.crates-io.candle-core.path=\"$patched/candle-core-0.11.1\""
            --config "patch.crates-io.candle-kernels.path=\"$patched/candle-kernels-0.11.1\"")
case "$mode" in
  check) cargo check "${patch_args[@]}" --features cuda --all-targets "$@" ;;
  build) cargo build "${patch_args[@]}" --features cuda --bin strata "$@" ;;
  release) cargo build "${patch_args[@]}" --features cuda --release --bin strata "$@" ;;
  *) echo "usage: scripts/build_cuda.sh check|build|release" >&2; exit 2 ;;
esac
# How many of candle's kernels were compiled to PTX for this build.
profile_dir=debug
[ "$mode" = release ] && profile_dir=release
kernels="$(ls -td "$CARGO_TARGET_DIR/$profile_dir"/build/candle-kernels-*/out 2>/dev/null | head -n 1 || true)"
ptx="$(ls "$kernels"/*.ptx 2>/dev/null | xargs -n1 basename 2>/dev/null | tr '\n' ' ' || true)"
echo "candle's CUDA kernels compiled to PTX (compute capability $CUDA_COMPUTE_CAP): ${ptx:-none found}"

[ "$mode" = check ] && exit 0
bin="$CARGO_TARGET_DIR/$profile_dir/strata"
version="$("$bin" --version)"
echo "$version"
[[ "$version" == *cuda* ]] || { echo "FAIL: the CUDA build does not say cuda in --version" >&2; exit 1; }
if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
  # Started on a machine without a GPU: it must run on the CPU and say why.
  work="$(mktemp -d)"
  "$bin" new "$work/p.strata" --data sample_data/shapes --template cnn --image-size 16x16 >/dev/null
  out="$("$bin" train "$work/p.strata" --epochs 1 --device cuda 2>&1)"
  rm -rf "$work"
  echo "${out%%$'\n'*}"
  [[ "$out" == *"CUDA build, no NVIDIA GPU found — using the CPU"* ]] \
    || { echo "$out" | tail -n 5; echo "FAIL: no 'no NVIDIA GPU found' message" >&2; exit 1; }
  echo "started without a GPU: trained on the CPU and said so"
fi
