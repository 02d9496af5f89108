"""Hooks and fixtures of the reliability suites: the run's tally (rel_common.py) printed at
the end of the run and, with PORTWATCH_FIGURES=<file>, written there as JSON; the hostile
listeners a module shares. Tests import helpers from rel_common, rel_hostile and nobody, never
from here (another folder's conftest may be the one `import conftest` finds).

Nothing here imports Qt: the core suites in this directory run without it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from rel_common import TALLY
from rel_hostile import (
    HOSTILE_ARGS,
    HOSTILE_NAMES,
    start_named,
    start_undecodable_exe,
    start_with_args,
)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if not TALLY:
        return
    terminalreporter.section("reliability figures")
    for name in sorted(TALLY):
        terminalreporter.write_line(f"{name}: {TALLY[name]}")
    target = os.environ.get("PORTWATCH_FIGURES")
    if target:
        Path(target).write_text(json.dumps(TALLY, indent=1, sort_keys=True) + "\n")


# -- hostile processes ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """Every hostile listener, running for the whole module: {label: HostileProcess}."""
    folder = tmp_path_factory.mktemp("hostile")
    started = {}
    try:
        for label, name in HOSTILE_NAMES.items():
            started[f"name:{label}"] = start_named(folder, f"name:{label}", name,
                                                   args=[b"<b>x</b>", b"\x1b[2J"])
        started["args"] = start_with_args(folder, "args", list(HOSTILE_ARGS.values()))
        started["udp"] = start_named(folder, "udp", HOSTILE_NAMES["html-img"], proto="udp")
        started["exe"] = start_undecodable_exe(folder)
        yield started
    finally:
        for proc in started.values():
            proc.stop()
