"""Opens the window for the command line (`portwatch` without a command), with the window's
plain-Python modules imported before PySide6.

PySide6 puts a hook on every import made after its own: it reads the source of each new module
(to see whether the module switches on its `__feature__` options). Importing first the core
modules that the window and its first poll need (monitor, fields, scanner, catalog, settings,
alert rules, and what `core.model` and `core.probe` load on first use: firewall, connections,
owners, namespaces, risk, hosts, history) spares a launch that reading: ~20–40 ms measured
(README "Performance").

The garbage collector is off from here until the first frame is drawn: what a launch builds
(modules, the catalog, the widgets, the first table) lives as long as the window, so its
160–180 passes found ~500 dead objects and cost 60–75 ms of the launch's CPU (the full pass,
15–45 ms, in the worker's first poll). After the first frame the window collects once, freezes
what the launch built and turns the collector back on (gui/app.py
`freeze_what_the_launch_built`); a launch that fails turns it back on too.
"""

from __future__ import annotations

import gc
import importlib
import logging

log = logging.getLogger(__name__)

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
    # what the first poll and the window's parts import later (README "Performance")
    "portwatch.core.firewall",
    "portwatch.core.firewall.namespaces",
    "portwatch.core.probe.connwatch",
    "portwatch.core.probe.owners",
    "portwatch.core.probe.netns",
    "portwatch.core.probe.origins",
    "portwatch.core.knowledge.risk",
    "portwatch.core.hosts",
    "portwatch.core.probe.remote",
    "portwatch.core.store.history",
    "portwatch.core.output.export",
    "portwatch.core.desktop.autostart",
    "portwatch.core.desktop.instance",
)


def run_gui(debug: bool = False) -> int:
    """Import BEFORE_QT, then open the window (gui/app.py) and run until the user quits; the
    garbage collector waits until the first frame is drawn."""
    gc.disable()
    log.debug("garbage collector off until the first frame, after %d passes",
              collector_passes())
    try:
        for name in BEFORE_QT:
            importlib.import_module(name)
        from portwatch.gui.app import run_gui as run_window

        return run_window(debug=debug)
    finally:
        gc.enable()


def collector_passes() -> int:
    """How many passes the garbage collector has made since the interpreter started."""
    return sum(generation["collections"] for generation in gc.get_stats())
