#!/usr/bin/env bash
# Real tables next to scikit-learn baselines on the same train/test files (BENCHMARKS.md §6):
# diabetes progression (regression, R²) and breast-cancer diagnosis (classification, accuracy),
# both from the data shipped inside the scikit-learn wheel.
#
# Usage: scripts/bench_tables.sh [PYTHON]   (PYTHON: an interpreter with scikit-learn installed;
# default $HOME/.cache/strata-peers/bin/python)
set -euo pipefail
cd "$(dirname "$0")/.."
py="${1:-$HOME/.cache/strata-peers/bin/python}"
out="${STRATA_BENCH_DIR:-$HOME/.cache/strata-real/tables}"
cargo build --release --quiet
S=target/release/strata
"$py" scripts/tables_baseline.py "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
run() { # name target epochs
  local name=$1 target=$2 epochs=$3
  "$S" new "$work/$name.strata" --data "$out/${name}_train.csv" --target "$target" \
    --val-fraction 0.15 --test-fraction 0 >/dev/null
  local start=$SECONDS
  "$S" train "$work/$name.strata" --epochs "$epochs" >/dev/null
  echo "{\"data\": \"$name\", \"model\": \"strata tabular-mlp, $epochs epochs (best by validation)\", \"seconds\": $((SECONDS - start)), \"test\": $("$S" evaluate "$work/$name.strata" --data "$out/${name}_test.csv" --json)}"
}
run diabetes progression 100
run cancer diagnosis 50
