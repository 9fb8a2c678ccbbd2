#!/usr/bin/env bash
# W3 end to end: `strata train` on an image-folder project (import + decode + batching + training
# + checkpoints, the whole process) next to the PyTorch peer (scripts/w3_torch.py) on the same
# folder, one after the other, ROUNDS times. Prints one JSON line per run (wall time and peak
# memory of the whole process, measured from outside with /usr/bin/time).
# Needs the MNIST class folders (examples/mnist_folders.rs) and the peers venv with Pillow
# (TORCH_PYTHON names another Python with torch and Pillow).
set -euo pipefail
cd "$(dirname "$0")/.."
PEERS=${PEERS:-$HOME/.cache/strata-peers}
M=${MNIST:-$HOME/.cache/strata-mnist}
EPOCHS=${EPOCHS:-5}
BATCH=${BATCH:-64}
ROUNDS=${ROUNDS:-3}
cargo build -q --release
S=$(realpath "${CARGO_TARGET_DIR:-target}")/release/strata
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# The project lives outside the data folder; no validation/test split, so both sides train on
# all 4,000 images.
$S new "$WORK/w3.strata" --data "$M/train" --template cnn --val-fraction 0 --test-fraction 0 >/dev/null
measure() { # name, command…  → {"framework": name, "wall_secs": …, "peak_rss_mb": …}
  local name=$1; shift
  local start end rss
  start=$(date +%s.%N)
  /usr/bin/time -f "%M" -o "$WORK/rss" "$@" >"$WORK/out" 2>"$WORK/err"
  end=$(date +%s.%N)
  rss=$(tail -n 1 "$WORK/rss")
  python3 -c "import json,sys; print(json.dumps(dict(framework='$name', workload='w3', batch=$BATCH, epochs=$EPOCHS, wall_secs=round($end-$start,3), peak_rss_mb=round($rss/1024,1))))"
}
for round in $(seq "$ROUNDS"); do
  measure strata "$S" train "$WORK/w3.strata" --epochs "$EPOCHS" --batch-size "$BATCH" --device cpu
  measure torch "${TORCH_PYTHON:-$PEERS/bin/python}" scripts/w3_torch.py --data "$M/train" --epochs "$EPOCHS" --batch "$BATCH"
  cat "$WORK/out"   # the peer's own breakdown (decode/train seconds)
done
