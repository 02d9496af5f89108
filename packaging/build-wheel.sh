#!/usr/bin/env bash
# Builds portwatch's wheel into OUTDIR (default dist/) and prints the wheel's path on stdout.
#
#   packaging/build-wheel.sh [OUTDIR]
#
# The wheel is built from a copy of the files git would ship (tracked and untracked, not ignored),
# so a stale build/ directory in the checkout cannot leak into it; pip builds it in an isolated
# environment with setuptools from the registry when there is no venv. Used by
# packaging/check-wheel.sh and packaging/pyinstaller/build.sh, so the wheel, its check and the
# bundle all ship the same files. With the project's venv (PORTWATCH_VENV, default .venv), pip
# builds with that venv's locked setuptools and wheel (requirements/test.txt), not the registry's
# newest.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$repo/dist}
mkdir -p "$out"
out=$(cd "$out" && pwd)
builder=${PORTWATCH_VENV:-$repo/.venv}/bin/python
isolation=--no-build-isolation
[ -x "$builder" ] || { builder=${PYTHON:-python3}; isolation=; }

src=$(mktemp -d "${TMPDIR:-/tmp}/portwatch-src.XXXXXX")
trap 'rm -rf "$src"' EXIT
if git -C "$repo" rev-parse --git-dir >/dev/null 2>&1; then
  git -C "$repo" ls-files -z --cached --others --exclude-standard \
    | (cd "$repo" && while IFS= read -r -d '' f; do [ -f "$f" ] && printf '%s\0' "$f"; done) \
    | tar -C "$repo" --null -T - -cf - | tar -C "$src" -xf -
else
  tar -C "$repo" --exclude=.venv --exclude=build --exclude=dist --exclude='*.egg-info' \
    --exclude=__pycache__ -cf - . | tar -C "$src" -xf -
fi
rm -f "$out"/portwatch-*.whl
"$builder" -m pip wheel --no-deps $isolation -q -w "$out" "$src" >&2
ls "$out"/portwatch-*.whl
