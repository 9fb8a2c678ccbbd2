#!/usr/bin/env bash
# The GPU check, for a machine with an NVIDIA GPU (it stops at once without one):
#  1. builds the CUDA release binary and the benchmark (scripts/build_cuda.sh; no CUDA toolkit
#     needed, the driver is),
#  2. the W2 benchmark (../shared/bench's CNN on 5,000 MNIST digits, batch 64) on the CPU and on
#     the GPU, side by side,
#  3. a transfer-image project (EfficientNet-Lite0 → Dropout → Dense) on the sample shapes,
#     3 epochs on the CPU and on the GPU with the same seed,
# and prints a table: samples/s, final losses and accuracies, and their differences (the two
# devices sum in different orders, so losses agree to a few decimals, not bit for bit).
# Record what it prints in BENCHMARKS.md §3 with the GPU's and CPU's names.
#   scripts/gpu_check.sh [MNIST_CSV]   (default: ../shared/bench's prepared CSV, see BENCHMARKS.md)
set -euo pipefail
cd "$(dirname "$0")/.."
nvidia-smi -L || { echo "no NVIDIA GPU found: this check needs one" >&2; exit 2; }
csv="${1:-${PEERS:-$HOME/.cache/strata-peers}/data/mnist_5k_shuffled.csv}"
[ -f "$csv" ] || { echo "no MNIST CSV at $csv (BENCHMARKS.md, 'Set up once')" >&2; exit 2; }
scripts/build_cuda.sh release --example bench_train
target="${STRATA_CUDA_TARGET_DIR:-$HOME/.cache/strata-cuda-target}/release"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

for dev in cpu cuda; do
  "$target/examples/bench_train" --csv "$csv" --workload w2 --batch 64 --tile 2 \
    --warmup-samples 1280 --device "$dev" > "$work/w2-$dev.json"
done

"$target/strata" new "$work/tl.strata" --data sample_data/shapes --template transfer-image \
  --seed 1 >/dev/null
for dev in cpu cuda; do
  cp "$work/tl.strata" "$work/tl-$dev.strata"
  start=$(date +%s.%N)
  "$target/strata" train "$work/tl-$dev.strata" --epochs 3 --device "$dev" --json \
    > "$work/tl-$dev.jsonl" 2> "$work/tl-$dev.err"
  end=$(date +%s.%N)
  echo "$start $end" > "$work/tl-$dev.time"
  grep -m1 -i "device\|cpu\|cuda" "$work/tl-$dev.err" || true
done

python3 - "$work" "$(nvidia-smi --query-gpu=name --format=csv,noheader | head -n 1)" \
  "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)" <<'PY'
import json, pathlib, sys
work, gpu, cpu = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3]
w2 = {d: json.loads((work / f"w2-{d}.json").read_text().strip().splitlines()[-1]) for d in ("cpu", "cuda")}
def epochs(dev):
    out = []
    for line in (work / f"tl-{dev}.jsonl").read_text().splitlines():
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if isinstance(e, dict) and e.get("event") == "epoch":
            out.append(e)
    return out
tl = {d: epochs(d) for d in ("cpu", "cuda")}
secs = {d: (lambda a, b: float(b) - float(a))(*(work / f"tl-{d}.time").read_text().split()) for d in ("cpu", "cuda")}
print(f"\nGPU: {gpu}   CPU: {cpu}\n")
print("| check | CPU | GPU | GPU ÷ CPU |\n|---|---|---|---|")
for key in ("train_sps", "infer_sps"):
    if key in w2["cpu"] and key in w2["cuda"]:
        c, g = w2["cpu"][key], w2["cuda"][key]
        print(f"| W2 batch 64, {key.replace('_', ' ')} | {c:,.0f} | {g:,.0f} | {g / c:.2f}× |")
print(f"| transfer-image, 3 epochs, seconds | {secs['cpu']:.1f} | {secs['cuda']:.1f} | {secs['cuda'] / secs['cpu']:.2f}× |")
for i, (c, g) in enumerate(zip(tl["cpu"], tl["cuda"]), 1):
    m = lambda e, k: e.get(k)
    print(f"| transfer-image epoch {i}: val loss / val accuracy | {m(c, 'val_loss')} / {m(c, 'val_accuracy')} | {m(g, 'val_loss')} / {m(g, 'val_accuracy')} | |")
PY
