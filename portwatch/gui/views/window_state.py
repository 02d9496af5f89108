"""Remember the window between runs: its size and place, its splitters and its tables' columns.

They are kept in `window-state.json` in the config folder (paths.window_state_file()), as
base64 of Qt's own saveGeometry()/saveState() bytes, so settings.yaml stays a file for people.
Splitters and tables are found by their object name (listenersSplitter, listenerTable,
historySplitter, historyTable…), so a part added later is remembered without changes here. The
file is written whole or not at all (core.files.atomic.write_atomic); a missing, unreadable or
broken file, and any value Qt refuses, is ignored: the window then opens as it does by default.
Only the listener table's sort order comes back; the History table starts in recorded order.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray
from PySide6.QtWidgets import QMainWindow, QSplitter, QTableView

from portwatch.core.files import paths
from portwatch.core.files.atomic import write_atomic
from portwatch.core.files.private import PRIVATE_FILE_MODE, make_private_dir

log = logging.getLogger(__name__)

FORMAT = 1
MAX_BYTES = 256 * 1024
SORT_REMEMBERED = {"listenerTable"}  # other tables open unsorted (cheap appends)


def _encode(data: QByteArray) -> str:
    return base64.b64encode(bytes(data.data())).decode("ascii")


def _decode(text: object) -> QByteArray | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return QByteArray(base64.b64decode(text.encode("ascii"), validate=True))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return None


def _named(window: QMainWindow, kind: type) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for widget in window.findChildren(kind):
        name = widget.objectName()
        if name and name not in found:
            found[name] = widget
    return found


def capture(window: QMainWindow) -> dict[str, Any]:
    """The window's state as a JSON-ready mapping."""
    headers = {}
    for name, table in _named(window, QTableView).items():
        header = table.horizontalHeader()
        headers[name] = {"columns": header.count(), "state": _encode(header.saveState())}
    return {
        "format": FORMAT,
        "geometry": _encode(window.saveGeometry()),
        "state": _encode(window.saveState()),
        "splitters": {name: _encode(splitter.saveState())
                      for name, splitter in _named(window, QSplitter).items()},
        "headers": headers,
    }


def restore(window: QMainWindow, data: object) -> list[str]:
    """Apply what `data` (from capture()) holds that Qt accepts; the names of the parts
    restored. Anything else is ignored."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return []
    done = []
    geometry = _decode(data.get("geometry"))
    if geometry is not None and window.restoreGeometry(geometry):
        done.append("geometry")
    state = _decode(data.get("state"))
    if state is not None and window.restoreState(state):
        done.append("state")
    splitters = data.get("splitters")
    if isinstance(splitters, dict):
        for name, splitter in _named(window, QSplitter).items():
            saved = _decode(splitters.get(name))
            if saved is not None and splitter.restoreState(saved):
                done.append(name)
    headers = data.get("headers")
    if isinstance(headers, dict):
        for name, table in _named(window, QTableView).items():
            if _restore_header(table, headers.get(name), keep_sort=name in SORT_REMEMBERED):
                done.append(name)
    return done


def _restore_header(table: QTableView, saved: object, *, keep_sort: bool) -> bool:
    header = table.horizontalHeader()
    if not isinstance(saved, dict) or saved.get("columns") != header.count():
        return False  # saved by a version with other columns: the defaults fit better
    state = _decode(saved.get("state"))
    if state is None:
        return False
    column, order = header.sortIndicatorSection(), header.sortIndicatorOrder()
    if not header.restoreState(state):
        return False
    if not keep_sort:
        header.setSortIndicator(column, order)
    elif table.isSortingEnabled() and header.sortIndicatorSection() >= 0:
        table.sortByColumn(header.sortIndicatorSection(), header.sortIndicatorOrder())
    return True


def load_window_state(window: QMainWindow, path: Path | None = None) -> bool:
    """Restore the window from `path` (default: the user's window-state.json); False when
    there was nothing usable. Never raises for the file."""
    path = Path(path) if path is not None else paths.window_state_file()
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except FileNotFoundError:
        return False
    except OSError as exc:
        log.warning("window state: cannot read %s: %s", path, exc)
        return False
    if len(raw) > MAX_BYTES:
        log.warning("window state: %s is too large; ignored", path)
        return False
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        log.warning("window state: %s is broken (%s); the window opens as by default",
                    path, exc)
        return False
    done = restore(window, data)
    log.debug("window state restored: %s", ", ".join(done) or "nothing")
    return bool(done)


def save_window_state(window: QMainWindow, path: Path | None = None) -> bool:
    """Write the window's state to `path` atomically; False (logged) when it cannot."""
    path = Path(path) if path is not None else paths.window_state_file()
    try:
        text = json.dumps(capture(window), indent=1) + "\n"
        make_private_dir(path.parent, "settings folder")
        write_atomic(path, text, mode=PRIVATE_FILE_MODE)
    except OSError as exc:
        log.warning("window state: cannot save %s: %s", path, exc)
        return False
    log.debug("window state saved to %s", path)
    return True
