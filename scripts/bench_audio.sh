#!/usr/bin/env bash
# Spoken words next to a scikit-learn baseline on the same files (BENCHMARKS.md §8): ten command
# words synthesized with espeak-ng in 336 voice settings, split by voice.
#
# Usage: scripts/bench_audio.sh [PYTHON]   (PYTHON: with scikit-learn and librosa; default
# $HOME/.cache/strata-peers/bin/python; needs `apt-get install espeak-ng`)
set -euo pipefail
cd "$(dirname "$0")/.."
py="${1:-$HOME/.cache/strata-peers/bin/python}"
out="${STRATA_BENCH_DIR:-$HOME/.cache/strata-real}/words"
cargo build --release --quiet
S=target/release/strata
"$py" scripts/audio_baseline.py "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$S" new "$work/words.strata" --data "$out/train" --val-fraction 0.1 --test-fraction 0 >/dev/null
start=$SECONDS
"$S" train "$work/words.strata" --epochs "${EPOCHS:-15}" >/dev/null
secs=$((SECONDS - start))
acc=$("$S" evaluate "$work/words.strata" --data "$out/test" --json |
  "$py" -c 'import json, sys; print(round(json.load(sys.stdin)["accuracy"], 4))')
echo "{\"data\": \"espeak-ng command words, split by voice\", \"model\": \"strata audio-cnn, ${EPOCHS:-15} epochs (best by validation)\", \"accuracy\": $acc, \"train_seconds\": $secs}"
