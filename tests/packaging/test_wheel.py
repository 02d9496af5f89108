"""A non-editable wheel installed into a fresh venv outside the checkout works, with its data
and icons (packaging/check-wheel.sh does the work; this runs it as part of `make test`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_wheel_installs_and_runs_from_a_fresh_venv(tmp_path):
    env = dict(os.environ)
    # The fresh venv is made from the interpreter running the tests (not the repo's .venv);
    # pip's cache is shared, so only the first run downloads PySide6.
    env["PYTHON"] = getattr(sys, "_base_executable", sys.executable)
    env["TMPDIR"] = str(tmp_path)
    result = subprocess.run(
        ["bash", str(REPO / "packaging" / "check-wheel.sh")],
        env=env, capture_output=True, text=True, timeout=600,
    )
    output = result.stdout + result.stderr
    print(output)
    assert result.returncode == 0, output
    assert "check-wheel: all checks passed" in result.stdout
    assert "ok: list --json" in result.stdout
