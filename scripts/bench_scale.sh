#!/usr/bin/env bash
# Data bigger than memory (BENCHMARKS.md §17): COUNT generated 224×224 colour photos (default
# 100,000; examples/make_scale_images.rs, written under WORK, default ~/.cache/strata-scale,
# outside the repo) through `strata new`, `strata train` (one epoch), `strata evaluate` and a
# reopen (`strata import`, which reads the prepared samples back), each with its time and peak
# resident memory (`/usr/bin/time`), the sample store's size and the run's own memory estimate.
# With COMPARE=N (e.g. 10000) the first N photos are also run with the samples held in memory
# (STRATA_SAMPLE_STORE=off), as Strata did before the store.
#
# The model is the MLP template (Dense 128 → classes) so one epoch over 80,000 photos takes
# minutes on two cores; the memory measured is the data's, not a big network's.
# Needs ~2 GB for the photos and COUNT × 150 kB for the store (15 GB at 100,000).
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${COUNT:-100000}
COMPARE=${COMPARE:-0}
WORK=${WORK:-$HOME/.cache/strata-scale}
[ -n "${NO_BUILD:-}" ] || cargo build -q --release --example make_scale_images --bin strata
S=${CARGO_TARGET_DIR:-target}/release/strata
mkdir -p "$WORK"
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) threads," \
  "AVX-512: $(grep -q avx512f /proc/cpuinfo && echo yes || echo no); $(free -g | awk '/Mem:/{print $2}') GB memory"
"${CARGO_TARGET_DIR:-target}/release/examples/make_scale_images" "$WORK/photos-$COUNT" "$COUNT"

# Runs a step: prints "step  seconds  peak-MB" and keeps its output in $WORK/NAME.log.
step() {
  local name=$1
  shift
  /usr/bin/time -f "%e %M" -o "$WORK/$name.time" "$@" >"$WORK/$name.log" 2>&1 || {
    echo "$name failed:"
    tail -20 "$WORK/$name.log"
    exit 1
  }
  read -r secs kb <"$WORK/$name.time"
  printf '%-28s %8.1f s %8d MB\n' "$name" "$secs" "$((kb / 1024))"
}

run() {
  local tag=$1 data=$2 store=$3
  local project="$WORK/$tag.strata" cache="$WORK/cache-$tag"
  rm -rf "$project" "${project%.strata}.runs" "$cache"
  export STRATA_CACHE_DIR="$cache" STRATA_SAMPLE_STORE="$store"
  echo "== $tag: $(find "$data" -name '*.jpg' | wc -l) photos, sample store $store"
  step "$tag new" "$S" new "$project" --data "$data" --template mlp --image-size 224x224 --channels 3
  if [ -d "$cache/samples" ]; then
    echo "store: $(du -sb "$cache/samples" | cut -f1 | awk '{printf "%.2f GB", $1/1e9}') in $cache/samples"
  fi
  step "$tag reopen (import)" "$S" import "$project"
  step "$tag train 1 epoch" "$S" train "$project" --epochs 1
  grep -m1 '^Memory:' "$WORK/$tag train 1 epoch.log" || true
  step "$tag evaluate" "$S" evaluate "$project"
  grep -i 'accuracy' "$WORK/$tag evaluate.log" | head -1 || true
}

if [ "$COMPARE" -gt 0 ]; then
  small="$WORK/photos-first-$COMPARE"
  if [ ! -d "$small" ]; then
    mkdir -p "$small"
    for class in "$WORK/photos-$COUNT"/class_*; do
      mkdir -p "$small/$(basename "$class")"
      find "$class" -name '*.jpg' | sort | awk -v n=$((COMPARE / 10)) 'NR <= n' |
        xargs -I{} ln {} "$small/$(basename "$class")/"
    done
  fi
  run "memory-$COMPARE" "$small" off
  run "store-$COMPARE" "$small" on
fi
run "store-$COUNT" "$WORK/photos-$COUNT" on
