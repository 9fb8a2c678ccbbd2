#!/usr/bin/env bash
# The road off one machine and back, on MNIST digits: a Strata project on the 4,000 training
# digits (examples/mnist_folders.rs) is trained in Strata, exported as a PyTorch project, trained
# again from new weights by the exported train.py under `torchrun --standalone --nproc_per_node=2`
# (CPU, gloo: two processes with DistributedDataParallel), brought back with `strata import-run`,
# and both runs are evaluated by `strata evaluate` on the 1,000 held-out test digits. Prints one
# JSON line.
#
#   scripts/bench_pytorch_roundtrip.sh [path/to/strata]    (EPOCHS=5 by default)
# Needs the MNIST folders in ~/.cache/strata-mnist (or $MNIST) and a Python with torch
# (scripts/setup_torch.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
STRATA=$(realpath "${1:-${CARGO_TARGET_DIR:-target}/debug/strata}")
M=${MNIST:-$HOME/.cache/strata-mnist}
EPOCHS=${EPOCHS:-5}
PY=$(scripts/setup_torch.sh)
TORCHRUN=$(dirname "$PY")/torchrun
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
P="$WORK/digits.strata"
accuracy() { "$STRATA" evaluate "$P" --data "$M/test" --json | "$PY" -c "import json,sys; print(json.load(sys.stdin)['accuracy'])"; }

"$STRATA" new "$P" --data "$M/train" --template cnn --seed 1 >/dev/null
t0=$(date +%s.%N)
"$STRATA" train "$P" --epochs "$EPOCHS" --device cpu >/dev/null
t1=$(date +%s.%N)
strata_acc=$(accuracy)

"$STRATA" export "$P" --format pytorch --out "$WORK/exported" >/dev/null
(cd "$WORK/exported" && "$PY" predict.py --check) >&2
t2=$(date +%s.%N)
(cd "$WORK/exported" && "$TORCHRUN" --standalone --nproc_per_node=2 train.py --epochs "$EPOCHS" \
  --out "$WORK/trained.safetensors") 2>&1 | grep -v -E "^W[0-9]+ |\*\*\*\*" >&2
t3=$(date +%s.%N)
"$STRATA" import-run "$P" "$WORK/trained.safetensors" >/dev/null
torch_acc=$(accuracy)

"$PY" - "$strata_acc" "$torch_acc" "$t0" "$t1" "$t2" "$t3" "$EPOCHS" <<'PYEOF'
import json, platform, sys
s, t, t0, t1, t2, t3, epochs = sys.argv[1:]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
print(json.dumps({
    "cpu": cpu, "epochs": int(epochs),
    "strata_test_accuracy": round(float(s), 4),
    "torchrun_2_processes_test_accuracy": round(float(t), 4),
    "difference_points": round(100 * (float(t) - float(s)), 2),
    "strata_train_secs": round(float(t1) - float(t0), 1),
    "torchrun_train_secs": round(float(t3) - float(t2), 1),
}))
PYEOF
