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
from portwatch.core import paths
from portwatch.core.export import history_record
from portwatch.core.history import (
    HistoryError,
    HistoryEvent,
    HistoryReader,
    HistoryStore,
    OutdatedSchema,
    describe_error,
)
from portwatch.core.text import visible

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
                        help='one JSON array of {"event", "time", ...listener fields}')
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
COLUMNS = ("TIME", "EVENT", "PROTO", "ADDRESS", "PORT", "EXPOSURE", "PID", "PROCESS",
           "SERVICE", "RISK")


def cells(item: HistoryEvent) -> tuple[str, ...]:
    sock = item.listener
    proc = sock.process
    return (
        item.iso_time,
        item.event,
        sock.proto.value,
        sock.address,
        str(sock.port),
        sock.exposure.label,
        str(proc.pid) if proc else "-",
        visible(proc.name, 24) if proc else ("(hidden)" if sock.owner_hidden else "-"),
        visible(item.service, 20) if item.service else "-",
        item.risk or "-",
    )


def print_events(events: Iterator[HistoryEvent], out: TextIO) -> int:
    """The table, streamed: column widths come from the first WIDTH_SAMPLE rows (a longer
    cell later only pushes its line), so the first line comes at once. Returns the rows."""
    sample = [cells(item) for item in itertools.islice(events, WIDTH_SAMPLE)]
    if not sample:
        return 0
    table = [COLUMNS, *sample]
    widths = [max(len(row[i]) for row in table) for i in range(len(COLUMNS))]
    right = {4, 6}  # port and pid

    def line(row: tuple[str, ...]) -> str:
        return "  ".join(cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
                         for i, cell in enumerate(row)).rstrip() + "\n"

    for row in table:
        out.write(line(row))
    out.flush()  # the first lines now, even into a pipe
    count = len(sample)
    for item in events:
        out.write(line(cells(item)))
        count += 1
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
        events = reader.iter_events(since, until, args.limit)
        if args.json:
            print_json(events, sys.stdout)
            return 0
        if not print_events(events, sys.stdout):
            window = " in that time" if since is not None or until is not None else ""
            print(f"no events recorded{window} ({paths.history_file()})")
    return 0
