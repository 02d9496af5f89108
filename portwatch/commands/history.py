"""`portwatch history [--since DURATION] [--json]`: the recorded events, oldest first.

DURATION is a number with a unit — s, m, h, d or w (30s, 15m, 1h, 2d, 1w), or several
(1h30m). Events are `present` (listening when a monitoring run started), `opened` and `closed`.
"""

from __future__ import annotations

import argparse
import json
import re
import sqlite3
import sys
import time
from typing import Any, TextIO

from portwatch.cli import UserError
from portwatch.commands import table
from portwatch.commands.termwidth import add_width_options, output_width
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


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "history",
        help="show the recorded opened/closed events",
        description="The events portwatch recorded while watching (the window or `portwatch"
        " watch`), oldest first: listeners present when a run started, then each one that"
        " opened or closed.",
    )
    parser.add_argument("--since", type=duration, metavar="DURATION",
                        help="only the last DURATION: 30s, 15m, 1h, 2d, 1w (default: all)")
    parser.add_argument("--json", action="store_true",
                        help='one JSON array of {"event", "time", ...}: event is present,'
                        " opened or closed, time is ISO 8601 UTC, then the keys of `list"
                        " --json` as recorded at the time (uses, likely_software and security"
                        " are null: `portwatch lookup` has them)")
    add_width_options(parser)
    parser.set_defaults(run=run)


def read_events(since: float | None) -> list[HistoryEvent] | None:
    """The events since `since` (epoch seconds), or None when nothing was recorded yet."""
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
        return reader.events(since=since)


def print_events(events: list[HistoryEvent], out: TextIO, width: int | None = None) -> None:
    """The events as a table fitted to `width` columns (None: every cell in full)."""
    columns = table.HISTORY_COLUMNS
    rows = []
    for item in events:
        record = history_record(item)
        rows.append((record["time"], record["event"], *table.cells(record, columns)))
    table.print_table(("TIME", "EVENT", *table.headers(columns)), rows, out,
                      right=table.right_aligned(columns, offset=2),
                      elide=table.elidable(columns, offset=2), width=width)


def run(args: argparse.Namespace) -> int:
    since = time.time() - args.since if args.since is not None else None
    events = read_events(since)
    if events is None:
        message = f"no history recorded yet ({paths.history_file()})"
        if args.json:
            print(f"portwatch: {message}", file=sys.stderr)
            print("[]")
        else:
            print(message)
        return 0
    if args.json:
        json.dump([history_record(item) for item in events], sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    if not events:
        window = " in that time" if since is not None else ""
        print(f"no events recorded{window} ({paths.history_file()})")
        return 0
    print_events(events, sys.stdout, output_width(args, sys.stdout))
    return 0
