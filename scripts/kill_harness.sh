#!/usr/bin/env bash
# kill -9 at random moments, as a power cut or a crash would: `strata train` (tests/crash_safety.rs
# with STRATA_KILLS kills, default 50) and the desktop app under Xvfb (APP_KILLS, default 20),
# killed while it opens and imports, trains (Ctrl+T) and saves (Ctrl+S). After every kill the
# project must open (`strata inspect`), every run's metrics.csv must parse and every checkpoint
# that a finished epoch wrote must be a whole safetensors file; at the end the interrupted run
# resumes (`strata train --resume`) and is evaluated. Needs Xvfb and xdotool
# (apt-get install xvfb xdotool). Prints the counts for BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/strata-target}"
cli_kills="${STRATA_KILLS:-50}"
app_kills="${APP_KILLS:-20}"

if [ "$cli_kills" -gt 0 ]; then
  echo "== strata train: $cli_kills kills"
  STRATA_KILLS="$cli_kills" cargo test -q --test crash_safety -- --nocapture 2>&1 | grep -E "kills|test result|panicked"
fi

echo "== the app: $app_kills kills"
cargo build -q
bin="$CARGO_TARGET_DIR/debug/strata"
work="$(mktemp -d)"
trap 'kill "$xvfb" 2>/dev/null || true; rm -rf "$work"' EXIT
Xvfb :93 -screen 0 1280x860x24 -noreset >/dev/null 2>&1 &
xvfb=$!
sleep 1
project="$work/shapes.strata"
"$bin" new "$project" --data sample_data/shapes --template cnn --image-size 20x20 --seed 5 >/dev/null
python3 - "$project" <<'PY'
import json, sys
p = json.load(open(sys.argv[1])); p["training"]["epochs"] = 30; p["training"]["batch_size"] = 8
json.dump(p, open(sys.argv[1], "w"), indent=2)
PY

check() {
  "$bin" inspect "$project" >/dev/null || { echo "round $1: the project does not open"; exit 1; }
  python3 - "$project" "$1" <<'PY'
import csv, json, os, struct, sys
project, rnd = sys.argv[1], sys.argv[2]
json.load(open(project))
runs = project[:-len(".strata")] + ".runs"
def whole_safetensors(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
    assert len(data) == 8 + n + end, f"{path} is cut short"
for run in (os.listdir(runs) if os.path.isdir(runs) else []):
    d = os.path.join(runs, run)
    if not os.path.exists(os.path.join(d, "run.json")):
        assert not os.listdir(d), f"round {rnd}: {d} has files but no run.json"
        continue
    json.load(open(os.path.join(d, "run.json")))
    rows = list(csv.DictReader(open(os.path.join(d, "metrics.csv")))) if os.path.exists(os.path.join(d, "metrics.csv")) else []
    for r in rows:
        float(r["train_loss"]); int(r["epoch"])
    for sub in ("last", "best"):
        for name in ("model.safetensors", "resume.safetensors"):
            f = os.path.join(d, sub, name)
            if os.path.exists(f):
                whole_safetensors(f)
        if os.path.exists(os.path.join(d, sub, "model.json")):
            json.load(open(os.path.join(d, sub, "model.json")))
PY
}

seed=7
for round in $(seq 1 "$app_kills"); do
  seed=$(( (seed * 1103515245 + 12345) % 2147483648 ))
  wait_ms=$(( 1500 + seed % 6000 ))
  DISPLAY=:93 LIBGL_ALWAYS_SOFTWARE=1 STRATA_WORKSPACE="$work/workspace" "$bin" "$project" >/dev/null 2>&1 &
  app=$!
  # Train (Ctrl+T, again a moment later in case the window was not ready; a running run ignores
  # it), and save now and then (Ctrl+S) while it runs.
  sleep 3
  DISPLAY=:93 xdotool search --sync --onlyvisible --name "Strata" windowfocus --sync key ctrl+t >/dev/null 2>&1 || true
  sleep 1
  DISPLAY=:93 xdotool key ctrl+t >/dev/null 2>&1 || true
  for _ in 1 2 3; do
    sleep 0.$(( seed % 9 + 1 ))
    DISPLAY=:93 xdotool key ctrl+s >/dev/null 2>&1 || true
  done
  sleep "$(awk "BEGIN{print $wait_ms/1000}")"
  [ -n "${SHOT:-}" ] && DISPLAY=:93 import -window root "$SHOT.$round.png"
  kill -9 "$app" 2>/dev/null || true
  wait "$app" 2>/dev/null || true
  check "$round"
done
runs=$( (ls "$work/shapes.runs" 2>/dev/null || true) | wc -l)
epochs=$( (cat "$work"/shapes.runs/*/metrics.csv 2>/dev/null || true) | grep -vc '^epoch' || true)
echo "app: $app_kills kills, $runs runs started, $epochs epochs finished, nothing unreadable"
"$bin" train "$project" --resume >/dev/null && echo "the newest interrupted run resumed and finished"
"$bin" evaluate "$project" | head -n 2
