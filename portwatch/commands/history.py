"""`portwatch history [--since WHEN] [--until WHEN] [--json]`: the recorded events, in the
order they were recorded.

WHEN is a DURATION ago — a number with a unit, s, m, h, d or w (30s, 15m, 1h, 2d, 1w), or
several (1h30m) — or a time in ISO 8601 (2026-11-23T20:00:00Z; without a zone: UTC). Events are
`present` (listening when a monitoring run started), `opened` and `closed`. `--since` ends at
now unless `--until` says otherwise: an event dated in the future (recorded while a clock was
ahead) is not "recent"; the command says how many such events it left out.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import sqlite3
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, TextIO

from portwatch.cli import UserError
from portwatch.commands import table
from portwatch.commands.termwidth import add_width_options, output_width, table_lines
from portwatch.core.fields.connection_text import event_text
from portwatch.core.files import paths
from portwatch.core.output.export import history_record
from portwatch.core.store.history import (
    HistoryError,
    HistoryEvent,
    HistoryReader,
    HistoryStore,
    OutdatedSchema,
    describe_error,
)

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_WHOLE = re.compile(rf"(?:{_PART.pattern})+")


def duration(text: str) -> float:
    """'30s', '15m', '1h', '2d', '1w', '1h30m' -> seconds (more than 0)."""
    compact = text.strip().lower().replace(" ", "")
    if not _WHOLE.fullmatch(compact):
        raise argparse.ArgumentTypeError(
            f"not a duration: {text!r} (use a number and a unit: 30s, 15m, 1h, 2d, 1w)")
    seconds = sum(float(number) * UNITS[unit] for number, unit in _PART.findall(compact))
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"the duration must be more than 0, not {text!r}")
    return seconds


def when(text: str) -> float:
    """--since/--until: a DURATION ago, or an ISO 8601 time -> epoch seconds."""
    try:
        return time.time() - duration(text)
    except argparse.ArgumentTypeError as not_duration:
        try:
            moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{not_duration}, or a time like 2026-11-23T20:00:00Z") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def limit(text: str) -> int:
    """--limit: a whole number of events, at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "history",
        help="show the recorded opened/closed events",
        description="The events portwatch recorded while watching (the window or `portwatch"
        " watch`), oldest first: listeners present when a run started, then each one that"
        " opened or closed.",
    )
    parser.add_argument("--since", type=when, metavar="WHEN",
                        help="only events from WHEN on: a DURATION ago (30s, 15m, 1h, 2d, 1w)"
                        " or an ISO 8601 time (default: all)")
    parser.add_argument("--until", type=when, metavar="WHEN",
                        help="only events before WHEN (default: now when --since is given,"
                        " else no end)")
    parser.add_argument("--limit", type=limit, metavar="N",
                        help="at most the first N events of the selection")
    parser.add_argument("--json", action="store_true",
                        help='one JSON array of {"event", "time", ...}: event is present,'
                        " opened, closed, changed or first-remote, time is ISO 8601 UTC, then"
                        " the keys of `list --json` as recorded at the time (uses,"
                        " likely_software and security are null: `portwatch lookup` has them)")
    parser.add_argument("--host", metavar="HOST",
                        help="only the events of HOST, a remote host the window reads over ssh"
                        " (as written in File > Add host…), or `local` for this machine's")
    add_width_options(parser)
    parser.set_defaults(run=run)


def open_reader() -> HistoryReader | None:
    """The history file opened for reading (upgraded first when an older portwatch wrote
    it), or None when nothing was recorded yet. Raises UserError when it cannot be read."""
    path = paths.history_file()
    try:
        return HistoryReader(path)
    except FileNotFoundError:
        return None
    except OutdatedSchema:
        try:  # recorded by an older portwatch: upgrade it, as the next recording would
            HistoryStore(path).close()
            return HistoryReader(path)
        except HistoryError as exc:
            raise UserError(str(exc)) from exc
        except (sqlite3.Error, OSError) as exc:
            raise UserError(describe_error(path, exc)) from exc
    except HistoryError as exc:
        raise UserError(str(exc)) from exc


WIDTH_SAMPLE = 200  # rows read before the first line is printed, to size the columns
CHUNK = 2000  # rows formatted together after the first ones


def print_events(events: Iterator[HistoryEvent], out: TextIO, width: int | None = None) -> int:
    """The events as a table fitted to `width` columns (None: every cell in full), streamed:
    the column widths come from the first WIDTH_SAMPLE rows, which are printed at once, and
    later rows follow in chunks sized the same way (a wider cell widens only its chunk).
    Returns how many rows were printed."""
    columns = table.HISTORY_COLUMNS
    header = ("TIME", "EVENT", *table.headers(columns))
    right = table.right_aligned(columns, offset=2)
    elide = table.elidable(columns, offset=2)

    def row(item: HistoryEvent) -> tuple[str, ...]:
        record = history_record(item)
        return (record["time"], event_text(item.event, item.peer),
                *table.cells(record, columns))

    sample = [row(item) for item in itertools.islice(events, WIDTH_SAMPLE)]
    if not sample:
        return 0
    table.print_table(header, sample, out, right=right, elide=elide, width=width)
    out.flush()  # the first lines now, even into a pipe
    count = len(sample)
    while chunk := [row(item) for item in itertools.islice(events, CHUNK)]:
        lines = table_lines(header, [*sample, *chunk], width, right, elide)
        for line in itertools.islice(lines, 1 + len(sample), None):
            out.write(line + "\n")
        count += len(chunk)
    return count


def print_json(events: Iterator[HistoryEvent], out: TextIO) -> None:
    """One JSON array, one event per line, written as it is read."""
    out.write("[")
    separator = "\n"
    for item in events:
        out.write(separator + json.dumps(history_record(item)))
        if separator == "\n":
            out.flush()  # the first event now, even into a pipe
        separator = ",\n"
    out.write("\n]\n" if separator != "\n" else "]\n")


def run(args: argparse.Namespace) -> int:
    since, until = args.since, args.until
    if since is not None and until is None:
        until = time.time()
    reader = open_reader()
    if reader is None:
        message = f"no history recorded yet ({paths.history_file()})"
        if args.json:
            print(f"portwatch: {message}", file=sys.stderr)
            print("[]")
        else:
            print(message)
        return 0
    with reader:
        later = reader.count(since=until) if until is not None and args.until is None else 0
        if later:
            print(f"portwatch: {later} events dated after now were left out (recorded while"
                  " a clock was ahead); --until with a later time shows them", file=sys.stderr)
        host = None if args.host is None else "" if args.host == "local" else args.host
        events = reader.iter_events(since, until, args.limit, host=host)
        if args.json:
            print_json(events, sys.stdout)
            return 0
        if not print_events(events, sys.stdout, output_width(args, sys.stdout)):
            window = " in that time" if since is not None or until is not None else ""
            print(f"no events recorded{window} ({paths.history_file()})")
    return 0
