#!/usr/bin/env bash
# Renders the app icons (resources/icons/*.svg) to the PNG sizes desktops and tray hosts ask for,
# under the freedesktop hicolor layout and named by the app id:
#
#   resources/icons/hicolor/<N>x<N>/apps/io.github.portwatch.portwatch{,-alert,-paused}.png
#   resources/icons/hicolor/scalable/apps/io.github.portwatch.portwatch{,-alert,-paused}.svg
#
# for N in 16 22 24 32 48 64 128 256. The generated files are COMMITTED, so a wheel, a bundle
# and packaging/linux/install.sh need no build step and no SVG tools; run this (`make icons`)
# after editing an SVG and commit the result. tests/packaging/test_icons.py fails when the
# committed PNGs no longer match their SVG.
#
# Needs rsvg-convert (Debian/Ubuntu: librsvg2-bin).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
icons=$repo/resources/icons
app_id=io.github.portwatch.portwatch
sizes="16 22 24 32 48 64 128 256"

command -v rsvg-convert >/dev/null || {
  echo "build-icons: rsvg-convert is missing (apt-get install librsvg2-bin)" >&2; exit 1; }

# source SVG -> icon name
variants="portwatch:$app_id portwatch-alert:$app_id-alert portwatch-paused:$app_id-paused"
mkdir -p "$icons/hicolor/scalable/apps"
for pair in $variants; do
  svg=$icons/${pair%%:*}.svg
  name=${pair#*:}
  cp "$svg" "$icons/hicolor/scalable/apps/$name.svg"
  for n in $sizes; do
    dir=$icons/hicolor/${n}x${n}/apps
    mkdir -p "$dir"
    rsvg-convert --width "$n" --height "$n" --format png "$svg" --output "$dir/$name.png"
  done
done
echo "build-icons: wrote $(find "$icons/hicolor" -type f | wc -l) files under $icons/hicolor"
