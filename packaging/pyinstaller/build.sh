#!/usr/bin/env bash
# `make bundle`: builds the one-dir PyInstaller bundle dist/portwatch/ (run dist/portwatch/portwatch).
#
# 1. PyInstaller comes with the locked test requirements (requirements/test.txt); in a venv
#    without it, it is installed from the `bundle` extra (a build tool only).
# 2. portwatch's wheel (packaging/build-wheel.sh) is unpacked into build/bundle/site, so the
#    bundle holds exactly what the wheel ships, laid out as installed.
# 3. PyInstaller builds from packaging/pyinstaller/portwatch.spec into dist/portwatch/.
# Prints the time it took and the bundle's size. BUNDLE_DIST (default dist/) and BUNDLE_STAGE
# (default build/bundle/) move the output and the scratch space (the tests build elsewhere).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
py=${PORTWATCH_VENV:-$repo/.venv}/bin/python
[ -x "$py" ] || { echo "bundle: $py is missing (run make test or make run first)" >&2; exit 1; }
start=$(date +%s)

if ! "$py" -c "import PyInstaller" 2>/dev/null; then
  # the `bundle` extra's requirements only (not a reinstall of portwatch, which may be in use)
  mapfile -t tools < <("$py" -c 'import sys, tomllib
print(*tomllib.load(open(sys.argv[1], "rb"))["project"]["optional-dependencies"]["bundle"],
      sep="\n")' "$repo/pyproject.toml")
  "$py" -m pip install -q "${tools[@]}"
fi

dist=${BUNDLE_DIST:-$repo/dist}
stage=${BUNDLE_STAGE:-$repo/build/bundle}
rm -rf "$stage"
mkdir -p "$stage"
wheel=$(bash "$repo/packaging/build-wheel.sh" "$stage/wheel")
"$py" -m zipfile -e "$wheel" "$stage/site"

PORTWATCH_SITE=$stage/site PORTWATCH_PRUNED=$stage/pruned.txt \
  "$py" -m PyInstaller --noconfirm --log-level WARN \
  --distpath "$dist" --workpath "$stage/work" "$repo/packaging/pyinstaller/portwatch.spec"

# Python's own shared libraries (built locally, e.g. by pyenv) carry debug symbols: libpython
# alone drops from 23 MB to 6 MB. Wheels' libraries are left alone (see the spec).
internal=$dist/portwatch/_internal
find "$internal" -maxdepth 1 -name 'libpython3*.so*' -type f -exec strip --strip-debug {} +
find "$internal" -path '*/lib-dynload/*.so' -type f -exec strip --strip-debug {} +

# The spec pruned unused Qt plugins and the libraries only they needed: prove that no library
# left in the bundle needs one of those. (Other unresolved names are host libraries this machine
# lacks, such as libwayland-egl; PyInstaller never bundles those.)
unresolved=$( { find "$internal" -name '*.so*' -type f -print0 \
  | LD_LIBRARY_PATH=$internal:$internal/PySide6/Qt/lib xargs -0 -n 20 ldd 2>/dev/null || true; } \
  | awk '/not found/ { print $1 }' | sort -u)
broken=$(comm -12 <(echo "$unresolved") <(sort -u "$stage/pruned.txt"))
if [ -n "$broken" ]; then
  echo "bundle: the spec pruned libraries that are still needed: $broken" >&2; exit 1
fi
[ -z "$unresolved" ] || echo "bundle: host libraries not on this machine (not bundled):" $unresolved
echo "bundle: pruned $(wc -l <"$stage/pruned.txt") unused libraries:" $(cat "$stage/pruned.txt")
echo "bundle: $dist/portwatch/portwatch ($(du -sh "$dist/portwatch" | cut -f1)," \
     "built in $(( $(date +%s) - start )) s)"
