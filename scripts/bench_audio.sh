#!/usr/bin/env bash
# Spoken words next to a scikit-learn baseline on the same files (BENCHMARKS.md §8, §12): ten
# command words synthesized with espeak-ng in 336 voice settings, split by voice; then (unless
# ONLY_WORDS=1) the ten digits from two synthesizers (espeak-ng and Flite), split by voice, with
# the plain defaults (`strata new` + `strata train`) and automatic training (`--auto`, default
# budget) next to the baseline.
#
# Usage: scripts/bench_audio.sh [PYTHON]   (PYTHON: with scikit-learn and librosa; default
# $HOME/.cache/strata-peers/bin/python; needs `apt-get install espeak-ng flite`)
set -euo pipefail
cd "$(dirname "$0")/.."
py="${1:-$HOME/.cache/strata-peers/bin/python}"
out="${STRATA_BENCH_DIR:-$HOME/.cache/strata-real}/words"
S=${STRATA_BIN:-target/release/strata}
[ -n "${STRATA_BIN:-}" ] || cargo build --release --quiet
"$py" scripts/audio_baseline.py "$out" words
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
run() { # name label [new options...]; AUGMENT=shift,noise_db edits the project's augmentation
  local name=$1 label=$2
  shift 2
  "$S" new "$work/$name.strata" --data "$out/train" --val-fraction 0.1 --test-fraction 0 "$@" >/dev/null
  if [ -n "${AUGMENT:-}" ]; then
    "$py" - "$work/$name.strata" "$AUGMENT" <<'PY'
import json, sys
path, (shift, noise) = sys.argv[1], sys.argv[2].split(",")
p = json.load(open(path))
p["data"].setdefault("augmentation", {}).update(max_time_shift=float(shift), noise_db=float(noise))
json.dump(p, open(path, "w"), indent=2)
PY
  fi
  local start=$SECONDS
  "$S" train "$work/$name.strata" --epochs "${EPOCHS:-15}" >/dev/null
  local secs=$((SECONDS - start))
  local acc
  acc=$("$S" evaluate "$work/$name.strata" --data "$out/test" --json |
    "$py" -c 'import json, sys; print(round(json.load(sys.stdin)["accuracy"], 4))')
  echo "{\"data\": \"espeak-ng command words, split by voice\", \"model\": \"strata audio-cnn, $label, ${EPOCHS:-15} epochs (best by validation)\", \"accuracy\": $acc, \"train_seconds\": $secs}"
}
run words "log-mel"
run mfcc "13 MFCCs" --mfcc 13
AUGMENT=0.1,20 run augmented "log-mel, time shift 10 % + noise 20-40 dB down"
# The default path on both sets: plain defaults and automatic training (default budget).
defaults_and_auto() { # name folder title
  local name=$1 dir=$2 title=$3
  for mode in defaults auto; do
    "$S" new "$work/$name-$mode.strata" --data "$dir/train" --test-fraction 0 >/dev/null
    local start=$SECONDS
    if [ "$mode" = auto ]; then
      "$S" train "$work/$name-$mode.strata" --auto >/dev/null
    else
      "$S" train "$work/$name-$mode.strata" >/dev/null
    fi
    local secs=$((SECONDS - start))
    local acc
    acc=$("$S" evaluate "$work/$name-$mode.strata" --data "$dir/test" --json |
      "$py" -c 'import json, sys; print(round(json.load(sys.stdin)["accuracy"], 4))')
    echo "{\"data\": \"$title\", \"model\": \"strata $mode (strata new + strata train$([ "$mode" = auto ] && echo ' --auto'))\", \"accuracy\": $acc, \"train_seconds\": $secs}"
  done
}
defaults_and_auto words "$out" "espeak-ng command words, split by voice"
if [ "${ONLY_WORDS:-0}" != 1 ]; then
  digits="${STRATA_BENCH_DIR:-$HOME/.cache/strata-real}/digits"
  "$py" scripts/audio_baseline.py "$digits" digits
  defaults_and_auto digits "$digits" "espeak-ng + Flite spoken digits, split by voice"
fi
