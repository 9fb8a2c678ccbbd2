#!/usr/bin/env bash
# The exported ONNX file in a third engine, as a user's program would run it: trains the sample
# shapes project with the strata binary, exports it as ONNX, and has ONNX Runtime (a pip wheel,
# installed into ~/.cache/strata-onnxruntime) classify all 600 sample images using only the file's
# metadata to prepare them. Fails unless its accuracy is within one point of `strata evaluate`'s
# on the same folder.
#
#   scripts/onnx_runtime_check.sh [path/to/strata]      (default: the debug build)
set -euo pipefail
cd "$(dirname "$0")/.."
STRATA=${1:-${CARGO_TARGET_DIR:-target}/debug/strata}
VENV=${STRATA_ORT_VENV:-$HOME/.cache/strata-onnxruntime}
if ! "$VENV/bin/python" -c "import onnxruntime, numpy, PIL" 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q onnxruntime numpy pillow
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
P="$work/shapes.strata"
"$STRATA" new "$P" --data sample_data/shapes --template cnn --image-size 28x28 --seed 1 >/dev/null
"$STRATA" train "$P" --epochs 4 --json >/dev/null
"$STRATA" export "$P" --out "$work/shapes.onnx"
expected=$("$STRATA" evaluate "$P" --data sample_data/shapes --json \
  | "$VENV/bin/python" -c "import json,sys; print(json.load(sys.stdin)['accuracy'])")
echo "strata evaluate on the 600 sample images: accuracy $expected"
"$VENV/bin/python" scripts/onnx_runtime_check.py "$work/shapes.onnx" sample_data/shapes \
  --expect-accuracy "$expected"
