#!/usr/bin/env bash
# Real tables next to scikit-learn baselines on the same train/test files (BENCHMARKS.md §6, §12):
# diabetes progression (regression, R²), breast-cancer diagnosis, wine cultivars and handwritten
# digits as 64 pixel columns (classification, accuracy), all from the data shipped inside the
# scikit-learn wheel. Each data set is split 80/20 several times (SEEDS, default "0 1 2 3 4": the
# test sets hold 36-360 rows, where one row is up to 3 points) and every model is scored on every
# split; the last lines are the means.
#
# Strata runs as a new user would: `strata new` (defaults: 15 % of the training rows for
# validation) then `strata train` with the defaults, and `strata new` then `strata train --auto`
# with the default budget; both evaluated with `strata evaluate --data test.csv`.
#
# Usage: scripts/bench_tables.sh [PYTHON]   (PYTHON: an interpreter with scikit-learn installed;
# default $HOME/.cache/strata-peers/bin/python). STRATA=path/to/strata uses that binary instead of
# building the release one.
set -euo pipefail
cd "$(dirname "$0")/.."
py="${1:-$HOME/.cache/strata-peers/bin/python}"
out="${STRATA_BENCH_DIR:-$HOME/.cache/strata-real/tables}"
if [ -z "${STRATA:-}" ]; then
  cargo build --release --quiet
fi
S=${STRATA:-target/release/strata}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
lines="$work/lines.jsonl"
score() { "$py" -c 'import json, sys; r = json.load(sys.stdin); print(round(r.get("accuracy", r.get("r2", float("nan"))), 4))'; }
for seed in ${SEEDS:-0 1 2 3 4}; do
  dir="$out/seed$seed"
  "$py" scripts/tables_baseline.py "$dir" "$seed" |
    "$py" -c 'import json, sys
for line in sys.stdin:
    r = json.loads(line); r["score"] = r.get("accuracy", r.get("r2")); print(json.dumps(r))' | tee -a "$lines"
  for spec in diabetes:progression cancer:diagnosis wine:cultivar digits:digit; do
    name=${spec%%:*} target=${spec#*:}
    for mode in defaults auto; do
      p="$work/$name-$seed-$mode.strata"
      "$S" new "$p" --data "$dir/${name}_train.csv" --target "$target" --test-fraction 0 >/dev/null
      start=$SECONDS
      if [ "$mode" = auto ]; then "$S" train "$p" --auto >/dev/null; else "$S" train "$p" >/dev/null; fi
      secs=$((SECONDS - start))
      s=$("$S" evaluate "$p" --data "$dir/${name}_test.csv" --json | score)
      echo "{\"data\": \"$name\", \"seed\": $seed, \"model\": \"strata $mode\", \"score\": $s, \"seconds\": $secs}" | tee -a "$lines"
    done
  done
done
# Means over the splits, per data set and model.
"$py" - "$lines" <<'PY'
import collections, json, sys
scores, secs = collections.defaultdict(list), collections.defaultdict(list)
for line in open(sys.argv[1]):
    r = json.loads(line)
    scores[(r["data"], r["model"])].append(r["score"])
    if "seconds" in r:
        secs[(r["data"], r["model"])].append(r["seconds"])
for (data, model), v in sorted(scores.items()):
    t = secs.get((data, model))
    print(json.dumps({"data": data, "model": model, "splits": len(v), "mean": round(sum(v) / len(v), 4),
                      "min": min(v), "max": max(v), **({"mean_seconds": round(sum(t) / len(t), 1)} if t else {})}))
PY
