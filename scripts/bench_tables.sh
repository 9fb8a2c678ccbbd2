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
# STRATA=path/to/strata uses that binary instead of building the release one.
if [ -z "${STRATA:-}" ]; then
  cargo build --release --quiet
fi
S=${STRATA:-target/release/strata}
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
# Automatic training (strata train --auto): the same epochs as the last rung, default 5-minute budget.
run_auto() { # name target epochs
  local name=$1 target=$2 epochs=$3
  "$S" new "$work/auto-$name.strata" --data "$out/${name}_train.csv" --target "$target" \
    --val-fraction 0.15 --test-fraction 0 >/dev/null
  local start=$SECONDS
  "$S" train "$work/auto-$name.strata" --auto --epochs "$epochs" >/dev/null
  echo "{\"data\": \"$name\", \"model\": \"strata train --auto, up to $epochs epochs\", \"seconds\": $((SECONDS - start)), \"test\": $("$S" evaluate "$work/auto-$name.strata" --data "$out/${name}_test.csv" --json)}"
}
run_auto diabetes progression 100
run_auto cancer diagnosis 50
