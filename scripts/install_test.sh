#!/usr/bin/env bash
# Install test of the Linux package, as a user would meet it:
#  1. builds the .deb (scripts/package.sh) unless --no-build and one exists,
#  2. installs it into a scratch root (dpkg-deb -x: the files dpkg would install, nothing outside),
#  3. checks the package: binary, desktop entry with the .strata association, MIME type, icons,
#     AppStream metadata, the bundled sample project; and `strata --version`,
#  4. starts the installed app under Xvfb with a fresh home folder, clicks "Try the sample project",
#     checks the sample opened from the installed location (the window title names it), takes a
#     screenshot and checks the window is not blank,
#  5. opens the sample's .strata file the way a double-click does (`strata FILE`).
# Needs: xvfb xdotool imagemagick desktop-file-utils (installed when missing and running as root).
# Usage: scripts/install_test.sh [--no-build] [--screenshot PATH]
set -euo pipefail
cd "$(dirname "$0")/.."

build=1
shot_out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) build=0 ;;
    --screenshot) shot_out="$2"; shift ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
  shift
done

need=()
for tool in Xvfb:xvfb xdotool:xdotool import:imagemagick desktop-file-validate:desktop-file-utils; do
  command -v "${tool%%:*}" >/dev/null || need+=("${tool##*:}")
done
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

deb="$(ls dist/strata_*_amd64.deb 2>/dev/null | head -n 1 || true)"
if [ "$build" = 1 ] || [ -z "$deb" ]; then
  scripts/package.sh --formats deb
  deb="$(ls dist/strata_*_amd64.deb | head -n 1)"
fi

work="$(mktemp -d)"
root="$work/root"
home="$work/home"
mkdir -p "$root" "$home"
cleanup() { kill "${app:-0}" "${xvfb:-0}" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

echo "== package $deb"
dpkg-deb --field "$deb" Package Version Architecture Depends
dpkg-deb -x "$deb" "$root"
for f in usr/bin/strata \
         usr/share/applications/strata.desktop \
         usr/share/mime/packages/strata.xml \
         usr/share/metainfo/io.strata.Strata.metainfo.xml \
         usr/share/icons/hicolor/256x256/apps/strata.png \
         usr/lib/strata/sample_data/shapes.strata \
         usr/lib/strata/sample_data/shapes/circle/circle_000.png; do
  [ -e "$root/$f" ] || fail "the package has no $f"
done
desktop-file-validate "$root/usr/share/applications/strata.desktop"
grep -q '^Exec=strata %f' "$root/usr/share/applications/strata.desktop" || fail "the desktop entry does not pass the file to strata"
grep -q '^MimeType=application/x-strata-project;' "$root/usr/share/applications/strata.desktop" || fail "no .strata file association"
echo "   contents, desktop entry and file association: ok"

echo "== strata --version"
version="$("$root/usr/bin/strata" --version)"
echo "   $version"
[[ "$version" == strata\ * ]] || fail "unexpected --version output"

echo "== first start under Xvfb"
display=:79
Xvfb "$display" -screen 0 1400x900x24 >/dev/null 2>&1 & xvfb=$!
export DISPLAY="$display"
sleep 1
HOME="$home" XDG_DATA_HOME="$home/.local/share" "$root/usr/bin/strata" >"$work/app.log" 2>&1 & app=$!
for _ in $(seq 1 40); do xdotool search --name '^Strata$' >/dev/null 2>&1 && break; sleep 0.5; done
xdotool search --name '^Strata$' >/dev/null || { cat "$work/app.log"; fail "no window appeared"; }
sleep 2
xdotool mousemove 321 178 click 1   # "Try the sample project (shapes)" on the start page
for _ in $(seq 1 40); do xdotool search --name 'shapes-sample.strata' >/dev/null 2>&1 && break; sleep 0.5; done
xdotool search --name 'shapes-sample.strata' >/dev/null || { cat "$work/app.log"; fail "the sample project did not open"; }
sample="$home/Strata/shapes-sample.strata"
[ -f "$sample" ] || fail "the sample project was not copied into ~/Strata"
data="$(python3 -c 'import json, os, sys; p = json.load(open(sys.argv[1]))["data"]["path"]; print(os.path.realpath(os.path.join(os.path.dirname(sys.argv[1]), p)))' "$sample")"
[ "$data" = "$(realpath "$root/usr/lib/strata/sample_data/shapes")" ] || fail "the sample project points at $data, not at the installed images"
sleep 3                              # let the import finish and the Data screen draw
xdotool mousemove 1100 700
sleep 1
shot="$work/shot.png"
import -window "$(xdotool search --name 'shapes-sample.strata' | head -n 1)" "$shot"
spread="$(convert "$shot" -colorspace Gray -format '%[fx:standard_deviation]' info:)"
echo "   screenshot pixel spread $spread"
awk -v s="$spread" 'BEGIN { exit !(s > 0.05) }' || fail "the window looks blank"
[ -n "$shot_out" ] && cp "$shot" "$shot_out" && echo "   screenshot saved to $shot_out"
kill "$app"; wait "$app" 2>/dev/null || true

echo "== double-click a .strata file (strata FILE)"
HOME="$home" XDG_DATA_HOME="$home/.local/share" "$root/usr/bin/strata" "$sample" >"$work/app2.log" 2>&1 & app=$!
for _ in $(seq 1 40); do xdotool search --name 'shapes-sample.strata' >/dev/null 2>&1 && break; sleep 0.5; done
xdotool search --name 'shapes-sample.strata' >/dev/null || { cat "$work/app2.log"; fail "opening the project file did not open it"; }
echo "   opened"
echo "PASS: install test"
