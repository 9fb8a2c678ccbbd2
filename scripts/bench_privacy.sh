#!/usr/bin/env bash
# Accuracy against the privacy budget ε on MNIST digits: the same model and settings trained
# without and with differential privacy (DP-SGD at several ε, δ = 1 / training samples), each
# evaluated by `strata evaluate` on the 1,000 held-out test digits. Prints one JSON line per run.
#
#   scripts/bench_privacy.sh [path/to/strata]     (TEMPLATE=mlp EPOCHS=10 BATCH=64 LR=0.005)
# Needs the MNIST folders in ~/.cache/strata-mnist (or $MNIST; examples/mnist_folders.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
STRATA=$(realpath "${1:-${CARGO_TARGET_DIR:-target}/debug/strata}")
M=${MNIST:-$HOME/.cache/strata-mnist}
TEMPLATE=${TEMPLATE:-mlp}
EPOCHS=${EPOCHS:-10}
BATCH=${BATCH:-64}
LR=${LR:-0.005}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cpu=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
for eps in none 8 3 1; do
  P="$WORK/digits-$eps.strata"
  "$STRATA" new "$P" --data "$M/train" --template "$TEMPLATE" --seed 1 >/dev/null
  dp=()
  [ "$eps" != none ] && dp=(--dp-epsilon "$eps")
  start=$(date +%s.%N)
  "$STRATA" train "$P" --epochs "$EPOCHS" --batch-size "$BATCH" --lr "$LR" --device cpu "${dp[@]}" >/dev/null 2>&1
  end=$(date +%s.%N)
  "$STRATA" evaluate "$P" --data "$M/test" --json > "$WORK/eval.json"
  python3 - "$WORK/eval.json" "$eps" "$start" "$end" "$TEMPLATE" "$EPOCHS" "$BATCH" "$LR" "$cpu" "$P" <<'PYEOF'
import glob, json, os, sys
path, eps, start, end, template, epochs, batch, lr, cpu, project = sys.argv[1:]
report = json.load(open(path))
runs = sorted(glob.glob(os.path.splitext(project)[0] + ".runs/*/run.json"))
privacy = json.load(open(runs[-1])).get("privacy") if runs else None
print(json.dumps({
    "cpu": cpu, "template": template, "epochs": int(epochs), "batch": int(batch), "lr": float(lr),
    "target_epsilon": None if eps == "none" else float(eps),
    "epsilon": privacy and round(privacy["epsilon"], 3),
    "delta": privacy and privacy["delta"],
    "noise_multiplier": privacy and privacy["noise_multiplier"],
    "test_accuracy": round(report["accuracy"], 4),
    "train_secs": round(float(end) - float(start), 1),
}))
PYEOF
done
