#!/usr/bin/env bash
# Builds portwatch's wheel and proves it works anywhere: installs it (not editable) into a fresh
# venv in a temp dir, with its dependencies from the package registry, and runs it from outside
# the checkout, so nothing can come from the source tree by accident.
#
#   packaging/check-wheel.sh            build, install, check; prints the timings
#   KEEP=1 packaging/check-wheel.sh     keep the temp dir (its path is printed) to look inside
#   PYTHON=python3.11 ...               the interpreter the fresh venv is made from
#   PORTWATCH_REQUIREMENTS=latest ...   dependencies resolved from the registry (newest allowed),
#                                       not the lock requirements/run.txt (make test-latest)
#
# Checks: `portwatch --version`; `portwatch list --json` is a JSON array; `portwatch lookup 3141
# --json` is a JSON array describing 3141 (when the installed program has `lookup`); the
# catalog data (registry.json, curated.json, curated/*.yaml, SOURCES, LICENSE*) and every icon
# in resources/icons/ are inside the installed package, and every file under data/ and
# resources/ in the source reached it; the window opens offscreen for 3 s without a traceback
# (when the program has a GUI and Qt's offscreen platform can start).
#
# The wheel is built by packaging/build-wheel.sh from the files git would ship. pip's cache is
# reused, so only the first run downloads PySide6.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}

work=$(mktemp -d "${TMPDIR:-/tmp}/portwatch-wheel.XXXXXX")
cleanup() { if [ "${KEEP:-}" = 1 ]; then echo "kept: $work"; else rm -rf "$work"; fi; }
trap cleanup EXIT
fail() { echo "check-wheel: FAIL: $*" >&2; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# 1. the wheel, from the files git would ship (packaging/build-wheel.sh)
t=$(now)
wheel=$(bash "$repo/packaging/build-wheel.sh" "$work/dist")
echo "built $(basename "$wheel") ($(du -k "$wheel" | cut -f1) KiB) in $(elapsed "$t") s"

# 2. a fresh venv, the wheel and its dependencies: exactly the locked ones (requirements/run.txt,
#    with hashes), or the newest the wheel allows with PORTWATCH_REQUIREMENTS=latest
t=$(now)
"$python" -m venv "$work/venv"
if [ "${PORTWATCH_REQUIREMENTS:-}" = latest ]; then
  "$work/venv/bin/python" -m pip install -q "$wheel"
else
  "$work/venv/bin/python" -m pip install -q --require-hashes --no-deps -r "$repo/requirements/run.txt"
  "$work/venv/bin/python" -m pip install -q --no-deps "$wheel"
  "$work/venv/bin/python" -m pip check >/dev/null || fail "the locked requirements do not satisfy the wheel: $("$work/venv/bin/python" -m pip check)"
fi
echo "installed into a fresh venv in $(elapsed "$t") s"

# 3. run it from outside the checkout, with its own config/data/home dirs
mkdir -p "$work/run/home" "$work/run/config" "$work/run/data"
cd "$work/run"
unset PYTHONPATH PYTHONHOME VIRTUAL_ENV
export PORTWATCH_CONFIG_DIR=$work/run/config PORTWATCH_DATA_DIR=$work/run/data
export XDG_CONFIG_HOME=$work/run/home/.config XDG_DATA_HOME=$work/run/home/.local/share
export XDG_CACHE_HOME=$work/run/home/.cache XDG_STATE_HOME=$work/run/home/.local/state
py=$work/venv/bin/python
pw=$work/venv/bin/portwatch
[ -x "$pw" ] || fail "the wheel installed no portwatch command"

version=$("$pw" --version) || fail "portwatch --version failed"
echo "$version" | grep -q "^portwatch 0\.\|^portwatch [0-9]" || fail "unexpected --version: $version"
echo "ok: $version"

"$pw" list --json >"$work/list.json" 2>"$work/list.err" \
  || fail "portwatch list --json failed: $(cat "$work/list.err")"
"$py" - "$work/list.json" <<'PY' || fail "portwatch list --json did not print a JSON array of listeners"
import json, sys
rows = json.load(open(sys.argv[1]))
assert isinstance(rows, list), type(rows)
for row in rows:
    assert {"proto", "address", "port", "exposure"} <= row.keys(), row
print(f"ok: list --json: {len(rows)} listeners")
PY

if "$pw" lookup --help >/dev/null 2>&1; then
  "$pw" lookup 3141 --json >"$work/lookup.json" 2>"$work/lookup.err" \
    || fail "portwatch lookup 3141 --json failed: $(cat "$work/lookup.err")"
  "$py" - "$work/lookup.json" <<'PY' || fail "portwatch lookup 3141 --json: not a JSON array about 3141"
import json, sys
entries = json.load(open(sys.argv[1]))
assert isinstance(entries, list) and entries, entries
assert all(entry["port"] == 3141 for entry in entries), entries
named = [e for e in entries if e.get("service") or e.get("uses")]
assert named, f"the catalog knows nothing about 3141: {entries}"
print(f"ok: lookup 3141 --json: {[e.get('service') for e in entries]}")
PY
else
  echo "skip: this portwatch has no lookup command yet"
fi

# 4. the shipped files are inside the installed package, not found in a checkout
"$py" - "$repo" <<'PY' || fail "files missing from the installed package"
import sys
from importlib import resources
from pathlib import Path

import portwatch
from portwatch import assets

src = Path(sys.argv[1])
installed = Path(portwatch.__file__).resolve().parent
assert "site-packages" in installed.parts, f"portwatch imported from {installed}, not the venv"

required = ["registry.json", "curated.json", "SOURCES"]
for name in required:
    assert assets.data_file(name).is_file(), f"data/{name} not installed"
data = resources.files("portwatch.data")
assert any(p.name.startswith("LICENSE") for p in data.iterdir()), "no data/LICENSE* installed"
assert list((installed / "data" / "curated").glob("*.yaml")), "no data/curated/*.yaml installed"

# Every file under data/ and resources/ in the source ships, except documentation-only
# screenshots (the README and the AppStream metainfo point at them; the program never loads them).
missing = []
for top, package in (("data", "data"), ("resources", "resources")):
    for path in sorted((src / top).rglob("*")):
        rel = path.relative_to(src / top)
        if path.is_dir() or "__pycache__" in rel.parts or rel.parts[0] == "screenshots":
            continue
        if not (installed / package / rel).is_file():
            missing.append(f"{top}/{rel}")
assert not missing, f"not in the wheel: {missing}"

icons = sorted(p.relative_to(installed / "resources").as_posix()
               for p in (installed / "resources" / "icons").rglob("*") if p.is_file())
assert "icons/portwatch.svg" in icons, icons
print(f"ok: data and {len(icons)} icon files inside {installed}")
PY

# 5. the window opens (offscreen) and keeps running without a traceback
if "$py" -c "import portwatch.gui.app" 2>/dev/null \
   && QT_QPA_PLATFORM=offscreen "$py" -c "from PySide6.QtWidgets import QApplication; QApplication([])" \
      >/dev/null 2>&1; then
  QT_QPA_PLATFORM=offscreen "$pw" --debug >"$work/gui.log" 2>&1 &
  gui=$!
  sleep 3
  if kill -0 "$gui" 2>/dev/null; then alive=yes; else alive=no; fi
  kill "$gui" 2>/dev/null || true
  wait "$gui" 2>/dev/null || true
  [ "$alive" = yes ] || fail "the window exited within 3 s: $(tail -20 "$work/gui.log")"
  ! grep -q "Traceback" "$work/gui.log" || fail "the window printed a traceback: $(cat "$work/gui.log")"
  ! grep -q "missing or unreadable" "$work/gui.log" || fail "an icon did not load: $(cat "$work/gui.log")"
  echo "ok: the window ran offscreen for 3 s"
else
  echo "skip: no GUI yet (portwatch.gui.app) or Qt offscreen cannot start"
fi
echo "check-wheel: all checks passed"
