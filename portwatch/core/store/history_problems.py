"""What can be wrong with the history file, said in words for the user, and setting a damaged
file aside (renamed with a timestamp: portwatch never deletes the user's file).
"""

from __future__ import annotations

import os
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

from portwatch.core.files.private import PrivateFileError
from portwatch.core.store.history_schema import ForeignDatabase, NewerSchema


class HistoryError(Exception):
    """The history file cannot be used; str() is a sentence for the user."""


class OutdatedSchema(HistoryError):
    """The file is of an older schema: opening a HistoryStore upgrades it."""


def kind_of(exc: BaseException) -> str:
    """What kind of error opening the history met: 'newer' (a newer portwatch's schema),
    'foreign' (a SQLite file portwatch did not write), 'locked', 'damaged' or 'unusable'."""
    if isinstance(exc, PrivateFileError):
        return "unusable"
    if isinstance(exc, NewerSchema):
        return "newer"
    if isinstance(exc, ForeignDatabase):
        return "foreign"
    text = str(exc).lower()
    if "locked" in text or "busy" in text:
        return "locked"
    if isinstance(exc, sqlite3.DatabaseError) and (
        "not a database" in text or "malformed" in text or "corrupt" in text
    ):
        return "damaged"
    return "unusable"


def describe_error(path: Path, exc: BaseException) -> str:
    """What is wrong with the history file, in one clause for the user."""
    if isinstance(exc, PrivateFileError):
        return str(exc)
    kind = kind_of(exc)
    if kind == "locked":
        return (f"history file {path} is locked by another program (database is locked);"
                " close the other program or portwatch instance and try again")
    if kind == "damaged":
        return f"history file {path} is damaged ({exc})"
    if kind == "foreign":
        return f"history file {path} is not a portwatch history ({exc})"
    if kind == "newer":
        return f"history file {path} was {exc}"
    return f"history file {path} cannot be opened ({exc})"


def problem_text(path: Path, exc: BaseException, moved_to: Path | None) -> str:
    """The sentence the user reads when monitoring goes on without the history file."""
    what = describe_error(path, exc)
    if moved_to is not None:
        return (f"{what}; the damaged file was moved to {moved_to} and a new history was"
                " started")
    return (f"{what}; portwatch keeps watching without saving history; the file was left"
            " untouched")


def set_aside(path: Path, now: float | None = None) -> Path:
    """Rename the history file (and its -wal/-shm companions) to <name>.damaged-<UTC time>;
    returns the new path of the main file. Nothing is deleted."""
    stamp = datetime.fromtimestamp(time.time() if now is None else now, UTC)
    target = path.with_name(f"{path.name}.damaged-{stamp.strftime('%Y%m%dT%H%M%SZ')}")
    counter = 1
    while target.exists():
        counter += 1
        target = target.with_name(f"{path.name}.damaged-{stamp.strftime('%Y%m%dT%H%M%SZ')}"
                                  f"-{counter}")
    for suffix in ("-wal", "-shm"):
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            os.replace(companion, target.with_name(target.name + suffix))
    os.replace(path, target)
    return target
