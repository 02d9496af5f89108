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
import json
import re
import sqlite3
import sys
import time
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
    parser.add_argument("--json", action="store_true",
                        help='one JSON array of {"event", "time", ...listener fields}')
    parser.set_defaults(run=run)


def read_events(since: float | None, until: float | None = None
                ) -> tuple[list[HistoryEvent], int] | None:
    """The events with since <= time < until (epoch seconds) and how many were left out for
    being dated after `until`; None when nothing was recorded yet."""
    path = paths.history_file()
    try:
        reader = HistoryReader(path)
    except FileNotFoundError:
        return None
    except OutdatedSchema:
        try:  # recorded by an older portwatch: upgrade it, as the next recording would
            HistoryStore(path).close()
            reader = HistoryReader(path)
        except HistoryError as exc:
            raise UserError(str(exc)) from exc
        except (sqlite3.Error, OSError) as exc:
            raise UserError(describe_error(path, exc)) from exc
    except HistoryError as exc:
        raise UserError(str(exc)) from exc
    with reader:
        later = reader.count(since=until) if until is not None else 0
        return reader.events(since=since, until=until), later


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


def print_events(events: list[HistoryEvent], out: TextIO) -> None:
    table = [COLUMNS, *(cells(item) for item in events)]
    widths = [max(len(row[i]) for row in table) for i in range(len(COLUMNS))]
    right = {4, 6}  # port and pid
    for row in table:
        out.write("  ".join(cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
                            for i, cell in enumerate(row)).rstrip() + "\n")


def run(args: argparse.Namespace) -> int:
    since, until = args.since, args.until
    now = time.time()
    if since is not None and until is None:
        until = now
    found = read_events(since, until)
    if found is None:
        message = f"no history recorded yet ({paths.history_file()})"
        if args.json:
            print(f"portwatch: {message}", file=sys.stderr)
            print("[]")
        else:
            print(message)
        return 0
    events, later = found
    if later and args.until is None:
        print(f"portwatch: {later} events dated after now were left out (recorded while a"
              " clock was ahead); --until with a later time shows them", file=sys.stderr)
    if args.json:
        json.dump([history_record(item) for item in events], sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    if not events:
        window = " in that time" if since is not None or until is not None else ""
        print(f"no events recorded{window} ({paths.history_file()})")
        return 0
    print_events(events, sys.stdout)
    return 0
