"""The test folders share helpers through modules of their own names (tests/fleet/fleet.py,
tests/reliability/rel_common.py, tests/nobody.py), never through `from conftest import`: with
several folders on sys.path, `conftest` is whichever folder's came first, so a test's import
depended on the order of pytest's arguments."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_no_test_module_imports_a_conftest():
    offenders = []
    for path in sorted(TESTS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(name.split(".")[0] == "conftest" for name in names):
                offenders.append(f"{path.relative_to(TESTS)}:{node.lineno}")
    assert offenders == []


def test_folders_collect_together_in_either_order():
    """Collect modules of three folders with conftests, both ways round (before, the
    reliability modules failed with "cannot import name 'tally' from 'conftest'" after e2e)."""
    modules = ["tests/e2e/test_notify_dbus.py", "tests/reliability/test_hostile_gui.py",
               "tests/reliability/test_attack_surface.py", "tests/fleet/test_fleet_units.py"]
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    for order in (modules, modules[::-1]):
        done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q",
                               "-p", "no:cacheprovider", *order],
                              capture_output=True, text=True, cwd=TESTS.parent, env=env,
                              timeout=300)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert "error" not in done.stdout.lower().splitlines()[-1], done.stdout[-3000:]
