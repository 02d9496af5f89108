"""Export the listener table and the history as CSV or JSON files (and the event records that
`watch --json` and `history --json` print).

The fields are those of `list --json` (records.listener_record), with `event` and `time` first
for history events. A history JSON export is what `history --json` prints; a listener JSON
export holds the records `list --json` prints, as an indented array (the command prints one
record per line, and its rows are the table's, as filtered and sorted). CSV exports are for
spreadsheets: lists are joined into readable text (a command line as a shell would quote it,
uses and security notes separated by "; "), ports and PIDs stay plain numbers, and any text
cell a spreadsheet would run as a formula (one starting with = + - @, a tab or a carriage
return) gets a leading single quote, as the OWASP CSV injection guidance advises: process
names and command lines are chosen by whoever started the process. Files are written
atomically (a temporary file in the same directory, then os.replace), so an export never
leaves a half-written file in place of a good one.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from portwatch.core.fields import BY_KEY, JSON_FIELDS, Stored
from portwatch.core.fields.connection_text import peer_text
from portwatch.core.files.atomic import write_atomic
from portwatch.core.model import AnnotatedListener, Listener, Peer
from portwatch.core.output import records
from portwatch.core.store.history import HistoryEvent, iso_utc
from portwatch.core.text import encodable

# Field order of one listener, as records.listener_record builds it.
LISTENER_FIELDS: tuple[str, ...] = tuple(field.key for field in JSON_FIELDS)
EVENT_FIELDS: tuple[str, ...] = ("event", "time", *LISTENER_FIELDS, "peer")
# Stored with each event at the time it happened (the rest of the catalog facts are not).
_RECORDED_CATALOG_FIELDS = tuple(field.key for field in JSON_FIELDS
                                 if field.stored is Stored.RECORDED)

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
    # first-remote: the other machine that connected ({address, port, scope}); else null
    record["peer"] = item.peer and {"address": item.peer.address, "port": item.peer.port,
                                    "scope": item.peer.scope}
    return record


# -- CSV cells ----------------------------------------------------------------------------------


def neutralise(text: str) -> str:
    """Text a spreadsheet would run as a formula, with a leading single quote; other text as is.
    Leading spaces do not hide a trigger (" =1+1" is neutralised too)."""
    stripped = text.lstrip(" ")
    if text.startswith(FORMULA_TRIGGERS) or stripped.startswith(FORMULA_TRIGGERS):
        return "'" + text
    return text


def csv_cell(name: str, value: Any) -> str | int | float:
    """One record value as a CSV cell: numbers stay numbers, lists become readable text, and
    every text cell is neutralised."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return value
    field = BY_KEY.get(name)
    if name == "peer" and isinstance(value, dict):  # a history event's (address, port, scope)
        text = peer_text(Peer(value["address"], value["port"], value["scope"]))
    elif isinstance(value, list | dict) and field is not None and field.csv_text is not None:
        text = field.csv_text(value)  # the field's own words (a command line, notes, holders)
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
    return _export(path, fmt, lambda: listeners_csv(rows), lambda: listeners_json(rows))


def export_events(events: Iterable[HistoryEvent], path: Path | str,
                  fmt: str | None = None) -> Path:
    """Write history events to `path` as CSV or JSON (by `fmt` or the suffix)."""
    return _export(path, fmt, lambda: events_csv(events), lambda: events_json(events))


def _export(path: Path | str, fmt: str | None, as_csv: Callable[[], str],
            as_json: Callable[[], str]) -> Path:
    target = Path(path)
    if format_for(target, fmt) == "csv":
        write_atomic(target, as_csv(), bom=True)  # the BOM: spreadsheets then read UTF-8
    else:
        write_atomic(target, as_json())
    return target
