#!/usr/bin/env bash
# Soak test of the desktop app under Xvfb: for MINUTES (default 30) it imports the sample data
# again (Ctrl+R), trains a short run (Ctrl+T), evaluates it (the Evaluate tab) and goes back, over
# and over, sampling the app's resident memory and each run's frame times. Both must stay flat:
# prints the first and last fifth of the session side by side, and the whole series as CSV.
# Needs: xvfb, xdotool (apt-get install xvfb xdotool).
#   scripts/soak.sh [MINUTES] [BINARY]            (BINARY default: target/release/strata)
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${1:-30}"
bin="${2:-target/release/strata}"
work="$(mktemp -d)"
trap 'kill "${app:-0}" "${xvfb:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT

n=81
while [ -e "/tmp/.X11-unix/X$n" ] || [ -e "/tmp/.X$n-lock" ]; do n=$((n + 1)); done
Xvfb ":$n" -screen 0 1280x860x24 -noreset >/dev/null 2>&1 & xvfb=$!
export DISPLAY=":$n" STRATA_WORKSPACE="$work/workspace" STRATA_FRAME_STATS="$work/frames.csv"
export LIBGL_ALWAYS_SOFTWARE=1
sleep 1
"$bin" new "$work/shapes.strata" --data "$PWD/sample_data/shapes" --template cnn --image-size 28x28 --seed 1 >/dev/null
python3 - "$work/shapes.strata" <<'PY'
import json, sys
p = json.load(open(sys.argv[1])); p["training"]["epochs"] = 3
json.dump(p, open(sys.argv[1], "w"), indent=2)
PY
"$bin" "$work/shapes.strata" >/dev/null 2>&1 & app=$!
sleep 5
xdotool search --sync --onlyvisible --name "Strata" windowfocus --sync >/dev/null 2>&1 || true

series="$work/soak.csv"
echo "seconds,rss_mb,runs,runs_on_disk,frame_p50_ms,frame_p95_ms,frame_max_ms" > "$series"
start=$SECONDS
runs=0
while [ $((SECONDS - start)) -lt $((minutes * 60)) ]; do
  kill -0 "$app" 2>/dev/null || { echo "the app exited after $((SECONDS - start)) s"; exit 1; }
  xdotool key ctrl+r; sleep 3                          # import again
  before=$(stat -c %Y "$STRATA_FRAME_STATS" 2>/dev/null || echo 0)
  xdotool key ctrl+t                                   # train a 3-epoch run
  for _ in $(seq 1 240); do
    sleep 0.5
    now=$(stat -c %Y "$STRATA_FRAME_STATS" 2>/dev/null || echo 0)
    [ "$now" != "$before" ] && break                   # written when a run ends
  done
  runs=$((runs + 1))
  xdotool mousemove 284 11 click 1; sleep 4            # "4 Evaluate": evaluates the new run
  xdotool mousemove 219 11 click 1; sleep 1            # back to "3 Train"
  rss=$(awk '/VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$app/status")
  frames=$(python3 - "$STRATA_FRAME_STATS" <<'PY'
import sys
v = sorted(float(l.split(",")[0]) * 1e3 for l in open(sys.argv[1]) if l[0].isdigit())
q = lambda f: v[min(len(v) - 1, int(round((len(v) - 1) * f)))] if v else 0
print(f"{q(0.5):.1f},{q(0.95):.1f},{max(v) if v else 0:.1f}")
PY
)
  on_disk=$( (ls "$work/shapes.runs" 2>/dev/null || true) | wc -l)
  echo "$((SECONDS - start)),$rss,$runs,$on_disk,$frames" >> "$series"
done
cat "$series"
python3 - "$series" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
k = max(1, len(rows) // 5)
def mean(rs, key): return sum(float(r[key]) for r in rs) / len(rs)
for name, rs in (("first fifth", rows[:k]), ("last fifth", rows[-k:])):
    print(f"{name}: RSS {mean(rs, 'rss_mb'):.0f} MB, frame p50 {mean(rs, 'frame_p50_ms'):.1f} ms, p95 {mean(rs, 'frame_p95_ms'):.1f} ms")
print(f"{rows[-1]['runs']} rounds (each: import, train 3 epochs, evaluate), {rows[-1]['runs_on_disk']} runs written, in {int(rows[-1]['seconds']) // 60} min")
PY
