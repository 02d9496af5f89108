"""Opens the window for the command line (`portwatch` without a command), with the window's
plain-Python modules imported before PySide6.

PySide6 puts a hook on every import made after its own: it reads the source of each new module
(to see whether the module switches on its `__feature__` options). Importing first the core
modules that the window and its first poll need (monitor, fields, scanner, catalog, settings,
alert rules) spares a launch that reading: ~20–40 ms measured (README "Performance").
"""

from __future__ import annotations

import importlib

BEFORE_QT = (
    "portwatch.core.monitor",
    "portwatch.core.fields",
    "portwatch.core.files.paths",
    "portwatch.core.store.settings",
    "portwatch.core.probe.scanner",
    "portwatch.core.knowledge.catalog",
    "portwatch.core.knowledge.reach",
    "portwatch.core.alerts.rules",
    "portwatch.core.alerts.memory",
)


def run_gui(debug: bool = False) -> int:
    """Import BEFORE_QT, then open the window (gui/app.py) and run until the user quits."""
    for name in BEFORE_QT:
        importlib.import_module(name)
    from portwatch.gui.app import run_gui as run_window

    return run_window(debug=debug)
