#!/usr/bin/env bash
# Builds the Linux packages of Strata into dist/ with cargo-packager (configuration:
# [package.metadata.packager] in Cargo.toml).
#
#   scripts/package.sh                  # CPU build: dist/strata_<version>_amd64.deb and the AppImage
#   scripts/package.sh --cuda           # CUDA build: dist/cuda/strata-cuda_<version>_amd64.deb, ...
#   scripts/package.sh --formats deb    # only some formats
#
# The CUDA build needs the CUDA toolkit to compile and the CUDA runtime to start; it is a separate
# package ("strata-cuda") so CPU-only machines never get a binary that cannot start.
# The AppImage format downloads linuxdeploy and the AppImage runtime from GitHub; on a machine
# without that access it fails with a clear message and the .deb is still produced.
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
if ! cargo packager --version 2>/dev/null | grep -q "$packager_version"; then
  echo "== installing cargo-packager $packager_version"
  cargo install cargo-packager --locked --version "$packager_version"
fi

config_args=()
out=dist
features=()
if [ "$device" = cuda ]; then
  features=(--features cuda)
  out=dist/cuda
  # The same configuration under other names, passed to cargo-packager as JSON.
  config_json="$(cargo metadata --format-version 1 --no-deps | BIN_DIR="$target_dir/release" python3 -c '
import json, os, sys
pkg = next(p for p in json.load(sys.stdin)["packages"] if p["name"] == "strata")
c = pkg["metadata"]["packager"]
c.update({"name": "strata", "version": pkg["version"], "product-name": "Strata CUDA", "out-dir": "dist/cuda", "binaries-dir": os.environ["BIN_DIR"]})
c["deb"]["package-name"] = "strata-cuda"
print(json.dumps(c))')"
  config_args=(--config "$config_json")
fi

echo "== cargo build --release ${features[*]}"
cargo build --release "${features[@]}"
"$target_dir/release/strata" --version

status=0
for format in $formats; do
  echo "== $format"
  if cargo packager --release "${config_args[@]}" --binaries-dir "$target_dir/release" --formats "$format"; then
    :
  else
    status=3
    if [ "$format" = appimage ]; then
      echo "!! the AppImage could not be built: cargo-packager downloads linuxdeploy and the AppImage runtime from github.com, which this machine cannot reach" >&2
    else
      echo "!! the $format package could not be built" >&2
    fi
  fi
done
if [ "$device" = cuda ]; then
  # cargo-packager names the file after the binary; the package is "strata-cuda". Both packages
  # install /usr/bin/strata, so declare that one replaces the other (cargo-packager has no
  # setting for these control fields).
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
ls -l "$out"/*.deb "$out"/*.AppImage 2>/dev/null || true
exit $status
