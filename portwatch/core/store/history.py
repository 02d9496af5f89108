"""The history store: a SQLite event log of listeners opening and closing, and the alert memory.

`HistoryStore` (history_store.py) is the writer: the Monitor's EventSink and the alert memory,
kept within its age and size (history_retention.py). `HistoryReader` (history_reader.py) opens
the same file read-only: the GUI's History tab pages through its own connection in the GUI
thread while the worker thread's store writes (each sqlite3 connection stays in the thread
that made it). `open_history()` opens the store or, when the file is damaged, locked or
unreadable, falls back to `MemoryHistory` with a clear sentence for the user: monitoring never
stops because of the history file, and the user's file is never deleted (at most renamed
aside, when asked to, and then said so).

Events are read in recording order (the id), whatever times a changed clock gave them. The
event values and their rows live in history_events.py, compact storage in history_details.py,
the per-minute counts in history_timeline.py, the file's problems in words in
history_problems.py, the layout and migrations in history_schema.py; this module re-exports
what callers need, so `from portwatch.core.store.history import ...` is the one import.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from portwatch.core.alerts.memory import InMemoryAlertMemory
from portwatch.core.files import paths
from portwatch.core.store.history_events import (
    CHANGED,
    CLOSED,
    EVENT_KINDS,
    FIRST_REMOTE,
    OPENED,
    PRESENT,
    HistoryEvent,
    counts_from,
    events_of,
    iso_utc,
)
from portwatch.core.store.history_problems import (
    HistoryError,
    OutdatedSchema,
    describe_error,
    kind_of,
    problem_text,
    set_aside,
)
from portwatch.core.store.history_reader import HistoryReader
from portwatch.core.store.history_store import (
    DEFAULT_RETENTION_DAYS,
    HistoryStore,
    why_not_recorded,
)
from portwatch.core.store.history_timeline import FILTERED_MAX

if TYPE_CHECKING:
    from portwatch.core.monitor import PollResult

# The public names of the history, wherever they are defined.
__all__ = [
    "CHANGED", "CLOSED", "DEFAULT_RETENTION_DAYS", "EVENT_KINDS", "FILTERED_MAX", "FIRST_REMOTE",
    "OPENED",
    "PRESENT", "History",
    "HistoryError", "HistoryEvent", "HistoryReader", "HistoryStore", "MemoryHistory",
    "OutdatedSchema", "attach_history", "counts_from", "describe_error", "events_of",
    "iso_utc", "open_history", "problem_text", "set_aside", "why_not_recorded",
]

log = logging.getLogger(__name__)


# -- the fallback -------------------------------------------------------------------------------


class MemoryHistory(InMemoryAlertMemory):
    """The alert memory for this run only, and no event log: what portwatch uses when the file
    cannot be opened. Monitoring and alerts go on; the History tab reads the file, so events
    that could not be saved are not kept (the user was told the history is not being saved)."""

    def __init__(self, path: Path | None = None) -> None:
        super().__init__()
        self.path = path

    def record(self, result: PollResult) -> None:
        """Nothing to record into: the events are not saved."""

    def close(self) -> None:
        pass


History = HistoryStore | MemoryHistory


# -- opening with a fallback ----------------------------------------------------------------


def open_history(
    path: Path | str | None = None,
    *,
    set_aside_damaged: bool = False,
    **store_options: Any,
) -> tuple[History, list[str]]:
    """The history store for `path` (default: paths.history_file()), or a MemoryHistory and the
    sentences that say why. A damaged file is left untouched unless `set_aside_damaged`, which
    renames it aside (see set_aside) and starts a new file; a locked or newer file is never
    moved."""
    target = Path(path) if path is not None else paths.history_file()
    try:
        store = HistoryStore(target, **store_options)
        return store, store.take_notices()
    except (sqlite3.Error, OSError) as exc:
        kind = kind_of(exc)
        log.debug("history: cannot open %s: %s", target, exc)
        if set_aside_damaged and kind in ("damaged", "foreign") and target.exists():
            try:
                moved = set_aside(target)
                store = HistoryStore(target, **store_options)
            except (sqlite3.Error, OSError) as again:
                log.debug("history: starting afresh failed: %s", again)
            else:
                message = problem_text(target, exc, moved_to=moved)
                log.info("%s", message)  # the caller shows it to the user
                return store, [message]
        message = problem_text(target, exc, moved_to=None)
        log.info("%s", message)  # the caller shows it to the user
        return MemoryHistory(target), [message]


def attach_history(monitor: Any, path: Path | str | None = None, **options: Any) -> list[str]:
    """Open the history (or its in-memory fallback) and make it `monitor.history`; returns the
    problems for the user. Call it in the thread that will poll (the GUI's worker thread), as
    the sqlite3 connection belongs to the thread that opens it."""
    history, problems = open_history(path, **options)
    monitor.history = history
    return problems
