#!/usr/bin/env bash
# Runs Strata's benchmark and the PyTorch/Keras peer programs (../shared/bench) side by side on
# the same data, one workload at a time, ROUNDS times (default 3); prints one JSON line per run
# and at the end a table of medians (min–max) with Strata's ratios against the peers
# (scripts/bench_summary.py). Needs the peers set up as in ../shared/bench/README.md
# (PEERS=$HOME/.cache/strata-peers); without them only Strata's lines are printed.
set -euo pipefail
cd "$(dirname "$0")/.."
PEERS=${PEERS:-$HOME/.cache/strata-peers}
BENCH=${BENCH:-../shared/bench}
CSV=$PEERS/data/mnist_5k_shuffled.csv
P=$PEERS/bin/python
ROUNDS=${ROUNDS:-3}
cargo build -q --release --example bench_train
S=target/release/examples/bench_train
peer() { # program, args…
  if [ -x "$P" ]; then (cd "$BENCH" && $P "$@" 2>/dev/null | tail -n 1); fi
}
run_all() {
  for round in $(seq "$ROUNDS"); do
    for w in w1 w2; do
      for b in 64 128; do
        if [ "$w" = w1 ]; then tile=(--tile 12); else tile=(--tile 2 --warmup-samples 1280); fi
        $S --csv "$CSV" --workload $w --batch $b "${tile[@]}"
        peer bench_torch.py --csv "$CSV" --workload $w --batch $b "${tile[@]}"
        peer bench_keras.py --csv "$CSV" --workload $w --batch $b "${tile[@]}"
      done
    done
  done
  if [ "${ACCURACY:-1}" = 1 ]; then
    for w in w1 w2; do
      $S --csv "$CSV" --workload $w --batch 64 --mode acc --epochs 5
      peer bench_torch.py --csv "$CSV" --workload $w --batch 64 --mode acc --epochs 5
      peer bench_keras.py --csv "$CSV" --workload $w --batch 64 --mode acc --epochs 5
    done
  fi
}
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT
run_all | tee "$LOG"
echo
python3 scripts/bench_summary.py < "$LOG"
