#!/usr/bin/env bash
# The whole epoch next to the training step (BENCHMARKS.md §2, issue 19): `strata train` on the
# MNIST class folders (W2 = the `cnn` template, batch 64, 10 % validation, checkpoints every
# epoch, samples read from the sample store) next to examples/bench_train's training step on the
# same 28×28 digits and model, alternating, ROUNDS times (default 3). Prints per round the
# samples/s `strata train` reports (its training loop), the whole epoch's (validation, checkpoint
# and metrics writes included), the benchmark's, and the ratios; then the medians.
#
# Needs the class folders of examples/mnist_folders.rs (MNIST=~/.cache/strata-mnist) and the CSV
# they came from (PEERS=~/.cache/strata-peers, as for scripts/bench_side_by_side.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
PEERS=${PEERS:-$HOME/.cache/strata-peers}
M=${MNIST:-$HOME/.cache/strata-mnist}
ROUNDS=${ROUNDS:-3}
EPOCHS=${EPOCHS:-3}
cargo build -q --release --bin strata --example bench_train
T=$(realpath "${CARGO_TARGET_DIR:-target}")/release
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) threads," \
  "AVX-512: $(grep -q -w avx512f /proc/cpuinfo && echo yes || echo no)"
"$T/strata" new "$WORK/w3.strata" --data "$M/train" --template cnn --val-fraction 0.1 \
  --test-fraction 0 >/dev/null
for round in $(seq "$ROUNDS"); do
  rm -rf "$WORK/w3.runs"
  "$T/strata" train "$WORK/w3.strata" --epochs "$EPOCHS" --batch-size 64 --device cpu --json \
    2>/dev/null >"$WORK/train.jsonl"
  step=$("$T/examples/bench_train" --csv "$PEERS/data/mnist_5k_shuffled.csv" --workload w2 \
    --batch 64 --tile 1 --warmup-samples 640 2>/dev/null)
  python3 - "$WORK/train.jsonl" "$step" "$round" <<'PY' | tee -a "$WORK/rounds.jsonl"
import json, sys
path, step, round_ = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
events = [json.loads(line) for line in open(path) if line.startswith("{")]
samples = next(e["train_samples"] for e in events if e.get("event") == "started")
epochs = [e for e in events if e.get("event") == "epoch"]
# The last epoch: the figure `strata train` reports (its training loop), and the whole epoch's
# from the time since the epoch before (the previous checkpoints, this epoch's batches,
# validation and metrics).
last, before = epochs[-1], epochs[-2]
whole = samples / (last["elapsed_secs"] - before["elapsed_secs"])
print(json.dumps({
    "round": int(round_),
    "epoch": last["epoch"],
    "strata_loop_sps": round(last["samples_per_sec"]),
    "strata_whole_epoch_sps": round(whole),
    "bench_step_sps": step["train_sps"],
    "loop_over_step": round(last["samples_per_sec"] / step["train_sps"], 3),
    "whole_over_step": round(whole / step["train_sps"], 3),
}))
PY
done
python3 - "$WORK/rounds.jsonl" <<'PY'
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
med = lambda key: statistics.median(r[key] for r in rows)
print(f"medians of {len(rows)} rounds: strata train loop {med('strata_loop_sps'):.0f}/s, "
      f"whole epoch {med('strata_whole_epoch_sps'):.0f}/s, training step {med('bench_step_sps'):.0f}/s; "
      f"loop ÷ step {med('strata_loop_sps') / med('bench_step_sps'):.3f}, "
      f"whole epoch ÷ step {med('strata_whole_epoch_sps') / med('bench_step_sps'):.3f}")
PY
