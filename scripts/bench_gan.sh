#!/usr/bin/env bash
# Image generation on MNIST digits, judged by a separately trained classifier: a conditional
# DCGAN (`--template cdcgan`) and an unconditional one (`dcgan`) are trained on the 4,000 training
# digits (examples/mnist_folders.rs), then draw 1,000 pictures each (100 per class asked for, when
# conditional); a CNN trained by Strata on the same digits classifies them with `strata predict`.
# Prints one JSON line per generator: the share classified as the class asked for with
# confidence ≥ 0.9, the classes present, the training time.
#
#   scripts/bench_gan.sh [path/to/strata]     (EPOCHS=15 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
STRATA=$(realpath "${1:-${CARGO_TARGET_DIR:-target}/debug/strata}")
M=${MNIST:-$HOME/.cache/strata-mnist}
EPOCHS=${EPOCHS:-15}
WORK=${WORK:-$(mktemp -d)}
KINDS=${KINDS:-"cdcgan dcgan"}
cpu=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')

# The judge: the CNN template on the same digits (its test accuracy on the 1,000 held-out ones).
if [ ! -f "$WORK/judge.strata" ]; then
  "$STRATA" new "$WORK/judge.strata" --data "$M/train" --template cnn --seed 1 >/dev/null
  "$STRATA" train "$WORK/judge.strata" --epochs 6 >/dev/null
fi
judge_acc=$("$STRATA" evaluate "$WORK/judge.strata" --data "$M/test" --json | python3 -c "import json,sys; print(json.load(sys.stdin)['accuracy'])")

for kind in $KINDS; do
  P="$WORK/$kind.strata"
  rm -rf "$P" "$WORK/$kind.runs" "$WORK/$kind-out"
  "$STRATA" new "$P" --data "$M/train" --template "$kind" --seed 1 >/dev/null
  start=$(date +%s.%N)
  "$STRATA" train "$P" --epochs "$EPOCHS" > "$WORK/$kind-train.log"
  end=$(date +%s.%N)
  "$STRATA" generate "$P" --count 1000 --out "$WORK/$kind-out" --seed 7 >/dev/null
  "$STRATA" predict "$WORK/judge.strata" "$WORK/$kind-out" --json > "$WORK/$kind-pred.json"
  python3 - "$WORK/$kind-pred.json" "$kind" "$start" "$end" "$EPOCHS" "$judge_acc" "$cpu" "$WORK/$kind-train.log" <<'PYEOF'
import json, os, sys, collections
path, kind, start, end, epochs, judge_acc, cpu, log = sys.argv[1:]
preds = json.load(open(path))["predictions"]
hits, confident, seen = 0, 0, collections.Counter()
for p in preds:
    asked = os.path.basename(os.path.dirname(p["source"]))
    cls, conf = p["class"], p["confidence"]
    if conf >= 0.9:
        seen[cls] += 1
        confident += 1
        if kind == "cdcgan" and cls == asked:
            hits += 1
last = [l for l in open(log) if l.startswith("epoch")][-1].strip()
out = {"cpu": cpu, "generator": kind, "epochs": int(epochs), "train_secs": round(float(end) - float(start)),
       "pictures": len(preds), "judge_test_accuracy": float(judge_acc),
       "confident_share": round(confident / max(len(preds), 1), 3),
       "classes_present_confidently": len(seen), "per_class": dict(sorted(seen.items())), "last_epoch": last}
if kind == "cdcgan":
    out["asked_class_at_0.9"] = round(hits / max(len(preds), 1), 3)
print(json.dumps(out))
PYEOF
done
