"""Export the listener table and the history as CSV or JSON files (and the event records that
`watch --json` and `history --json` print).

The fields are those of `list --json` (records.listener_record), with `event` and `time` first
for history events. JSON exports are exactly what the commands print. CSV exports are for
spreadsheets: lists are joined into readable text (a command line as a shell would quote it,
uses and security notes separated by "; "), ports and PIDs stay plain numbers, and any text
cell a spreadsheet would run as a formula (one starting with = + - @, a tab or a carriage
return) gets a leading single quote, as the OWASP CSV injection guidance advises: process
names and command lines are chosen by whoever started the process. Files are written
atomically (a temporary file in the same directory, then os.replace), so an export never
leaves a half-written file in place of a good one.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shlex
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from portwatch.core import records
from portwatch.core.history import HistoryEvent, iso_utc
from portwatch.core.model import AnnotatedListener, Exposure, Family, Listener, Proto
from portwatch.core.text import encodable

# Field order of one listener, as records.listener_record builds it.
LISTENER_FIELDS: tuple[str, ...] = tuple(
    records.listener_record(Listener(Proto.TCP, Family.IPV4, "127.0.0.1", 1, Exposure.LOOPBACK))
)
EVENT_FIELDS: tuple[str, ...] = ("event", "time", *LISTENER_FIELDS)
# Stored with each event at the time it happened (the rest of the catalog facts are not).
_RECORDED_CATALOG_FIELDS = ("service", "description", "risk", "risk_reason")

# First characters that make a spreadsheet treat a cell as a formula (OWASP), and their
# full-width forms, which some spreadsheet locales convert.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
FORMATS = ("csv", "json")


# -- records ------------------------------------------------------------------------------------


def event_record(event: str, when: float, item: AnnotatedListener | Listener,
                 previous: AnnotatedListener | Listener | None = None) -> dict[str, Any]:
    """{"event", "time" (ISO-8601 UTC, Z), ...listener fields}: one line of `watch --json`;
    a `changed` event (the socket's owner changed) adds "previous": the owner before."""
    record = {"event": event, "time": iso_utc(when), **records.listener_record(item)}
    if previous is not None:
        record["previous"] = records.owner_record(previous)
    return record


def history_record(item: HistoryEvent) -> dict[str, Any]:
    """A stored event as a record with the same fields as event_record. The registry service,
    description and risk are those recorded at the time; uses and security are null (they are
    facts about the port: `portwatch lookup` shows them), and `seq` places it in the order
    of recording."""
    # seq: the order recorded in (times can jump with the clock; this cannot)
    record = {"event": item.event, "time": item.iso_time, "seq": item.id,
              **records.listener_record(item.listener)}
    for name in _RECORDED_CATALOG_FIELDS:
        record[name] = getattr(item, name)
    return record


# -- CSV cells ----------------------------------------------------------------------------------


def neutralise(text: str) -> str:
    """Text a spreadsheet would run as a formula, with a leading single quote; other text as is.
    Leading spaces do not hide a trigger (" =1+1" is neutralised too)."""
    stripped = text.lstrip(" ")
    if text.startswith(FORMULA_TRIGGERS) or stripped.startswith(FORMULA_TRIGGERS):
        return "'" + text
    return text


def _security_text(notes: list[dict[str, Any]]) -> str:
    return "; ".join(f"{note['severity']}: {note['title']}" for note in notes)


def csv_cell(name: str, value: Any) -> str | int | float:
    """One record value as a CSV cell: numbers stay numbers, lists become readable text, and
    every text cell is neutralised."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return value
    if name == "cmdline" and isinstance(value, list):
        text = shlex.join(str(arg) for arg in value)
    elif name == "security" and isinstance(value, list):
        text = _security_text(value)
    elif name == "holders" and isinstance(value, list):
        text = "; ".join(f"{item['process']} ({item['pid']})" for item in value)
    elif name == "package" and isinstance(value, dict):
        text = " ".join(str(part) for part in value.values() if part)
    elif isinstance(value, list):
        text = "; ".join(str(item) for item in value)
    else:
        text = str(value)
    # A name or path that was not UTF-8 keeps its bad bytes as \xNN: a CSV file is UTF-8.
    return neutralise(encodable(text))


def _csv_text(fields: tuple[str, ...], rows: Iterable[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)  # RFC 4180: CRLF line ends, quotes where needed
    writer.writerow(fields)
    for record in rows:
        writer.writerow([csv_cell(name, record.get(name)) for name in fields])
    return out.getvalue()


# -- whole documents ----------------------------------------------------------------------------


def listeners_json(rows: Iterable[AnnotatedListener]) -> str:
    """The table as `list --json` prints it."""
    return json.dumps([records.listener_record(row) for row in rows], indent=1) + "\n"


def listeners_csv(rows: Iterable[AnnotatedListener]) -> str:
    return _csv_text(LISTENER_FIELDS, (records.listener_record(row) for row in rows))


def events_json(events: Iterable[HistoryEvent]) -> str:
    """The events as `history --json` prints them."""
    return json.dumps([history_record(item) for item in events], indent=1) + "\n"


def events_csv(events: Iterable[HistoryEvent]) -> str:
    return _csv_text(EVENT_FIELDS, (history_record(item) for item in events))


# -- files --------------------------------------------------------------------------------------


def format_for(path: Path, fmt: str | None = None) -> str:
    """"csv" or "json": `fmt` when given, else from the file name's suffix."""
    chosen = (fmt or path.suffix.lstrip(".")).lower()
    if chosen not in FORMATS:
        raise ValueError(f"cannot tell the export format of {path.name!r}: use a .csv or .json"
                         " file name")
    return chosen


def export_listeners(rows: Iterable[AnnotatedListener], path: Path | str,
                     fmt: str | None = None) -> Path:
    """Write the table to `path` as CSV or JSON (by `fmt` or the suffix); returns the path."""
    target = Path(path)
    if format_for(target, fmt) == "csv":
        write_atomic(target, listeners_csv(rows), bom=True)
    else:
        write_atomic(target, listeners_json(rows))
    return target


def export_events(events: Iterable[HistoryEvent], path: Path | str,
                  fmt: str | None = None) -> Path:
    """Write history events to `path` as CSV or JSON (by `fmt` or the suffix)."""
    target = Path(path)
    if format_for(target, fmt) == "csv":
        write_atomic(target, events_csv(events), bom=True)
    else:
        write_atomic(target, events_json(events))
    return target


def _new_file_mode() -> int:
    # The mode a plain open() would give: 0o666 less the umask. os.umask can only be read by
    # setting it; the moment in between uses 0o077, which can only make files more private.
    mask = os.umask(0o077)
    os.umask(mask)
    return 0o666 & ~mask


def write_atomic(path: Path | str, text: str, *, bom: bool = False,
                 mode: int | None = None) -> None:
    """Replace `path` with `text` (UTF-8) in one step: the file is either the old one or the
    complete new one, never a part. `bom` starts the file with a UTF-8 byte order mark, which
    spreadsheet programs need to read a CSV file as UTF-8. The file keeps its mode, or gets
    `mode` (default: what the umask gives a new file)."""
    target = Path(path)
    if mode is None:
        try:
            mode = target.stat().st_mode & 0o7777
        except FileNotFoundError:
            mode = _new_file_mode()
    handle, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.",
                                         suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8-sig" if bom else "utf-8",
                       newline="") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp_name, mode)
        os.replace(temp_name, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable where possible
        directory = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
