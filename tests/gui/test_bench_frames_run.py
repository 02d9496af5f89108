"""The frame part of `make bench` still runs against the window's current modules.

`tests/gui/bench_listener_model.py` builds the table as the window does (its column widths,
hidden columns, delegate and sorted model); `make bench` prints "n/a" with the error when that
script breaks, so a moved name would otherwise go unnoticed until someone reads the figures.
This runs it small and checks that it measured what it says, not how fast (figures belong in
the bench).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).with_name("bench_listener_model.py")


def test_the_frame_bench_runs_and_measures_every_round():
    done = subprocess.run([sys.executable, str(SCRIPT), "300", "3", "--json"],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["rows"] == 300
    assert len(figures["apply_ms"]) >= 3 and len(figures["frames_ms"]) >= 3
    assert all(value >= 0 for value in figures["frames_ms"] + figures["apply_ms"])
