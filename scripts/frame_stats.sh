#!/usr/bin/env bash
# Frame times of the desktop app while it trains the sample project, measured on the real app
# under Xvfb (software rendering, sharing the CPU with training — a worst case).
# Needs: xvfb, xdotool (apt-get install xvfb xdotool). Usage: scripts/frame_stats.sh [BINARY]
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-target/release/strata}"
work="$(mktemp -d)"
trap 'kill "${app:-0}" "${xvfb:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT

n=77
while [ -e "/tmp/.X11-unix/X$n" ] || [ -e "/tmp/.X$n-lock" ]; do n=$((n + 1)); done
Xvfb ":$n" -screen 0 1400x900x24 -noreset >/dev/null 2>&1 & xvfb=$!
export DISPLAY=":$n" STRATA_WORKSPACE="$work" STRATA_FRAME_STATS="$work/frames.csv"
sleep 1
# A copy of the sample project whose runs go to the scratch folder.
sed "s#\"path\": \"shapes\"#\"path\": \"$PWD/sample_data/shapes\"#" sample_data/shapes.strata > "$work/shapes.strata"
"$bin" "$work/shapes.strata" >/dev/null 2>&1 & app=$!
sleep 5
xdotool mousemove 219 11 click 1   # the "3 Train" tab
sleep 4                            # idle frames on the Train screen, for comparison
xdotool mousemove 365 48 click 1   # "Start training"
for _ in $(seq 1 600); do
  [ -s "$work/frames.csv" ] && break
  sleep 0.5
done
head -n 3 "$work/frames.csv"
