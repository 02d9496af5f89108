"""Terminal tables that fit: how wide the output may be, and columns elided to that width.

The width is `--width N` when given; else, when stdout is a terminal, `$COLUMNS` or the
terminal's width; `--wide`, or stdout not being a terminal (a pipe, a file), means no limit.
When a table is too wide, the widest elidable (text) columns lose characters first, down to a
minimum each, and then the columns close up to one space; a cut cell ends with "…". Numbers,
addresses and times are never cut: a cut one would be a wrong one, so when they alone are wider
than the limit, the lines are wider too.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TextIO

GAP = 2  # spaces between columns
MIN_ELIDED = 6  # an elided column keeps at least this many characters
MIN_WIDTH = 20


def width_arg(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of columns: {text!r}") from None
    if value < MIN_WIDTH:
        raise argparse.ArgumentTypeError(f"must be at least {MIN_WIDTH} columns, not {value}")
    return value


def add_width_options(parser: Any) -> None:
    """--wide and --width N for a command that prints a table."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--wide", action="store_true",
                       help="never cut text to fit the terminal (the default when stdout is not"
                       " a terminal)")
    group.add_argument("--width", type=width_arg, metavar="N",
                       help="fit the output to N columns, even into a pipe (default on a"
                       " terminal: $COLUMNS or its width)")


def output_width(args: argparse.Namespace, stream: TextIO) -> int | None:
    """The number of columns to fit to, or None for no limit: --width N; else, on a terminal,
    $COLUMNS or the terminal's width; else (a pipe, a file, --wide) no limit."""
    if getattr(args, "wide", False):
        return None
    if getattr(args, "width", None):
        return int(args.width)
    try:
        if not stream.isatty():
            return None
        columns = os.environ.get("COLUMNS", "").strip()
        if columns.isdecimal() and int(columns) > 0:
            return max(int(columns), MIN_WIDTH)
        return max(os.get_terminal_size(stream.fileno()).columns, MIN_WIDTH)
    except (AttributeError, OSError, ValueError):
        return None


def elide(text: str, width: int) -> str:
    """`text` cut to `width` characters, ending with "…" when cut."""
    if len(text) <= width:
        return text
    return text[: max(width - 1, 0)] + "…"


def fit_widths(natural: Sequence[int], elidable: Iterable[int], minimum: Sequence[int],
               limit: int | None, gap: int = GAP) -> list[int]:
    """Column widths whose sum with the gaps is at most `limit` when possible: the widest
    elidable column is narrowed first, one character at a time, never below its minimum."""
    widths = list(natural)
    if limit is None:
        return widths
    excess = sum(widths) + gap * (len(widths) - 1) - limit
    candidates = [i for i in elidable if widths[i] > minimum[i]]
    while excess > 0 and candidates:
        widest = max(candidates, key=lambda i: (widths[i], -i))
        top = widths[widest]
        # Down to the next widest column (or its minimum), one character when they tie.
        runner = max((widths[i] for i in candidates if i != widest), default=0)
        floor = max(minimum[widest], runner)
        step = min(top - floor, excess) if top > floor else 1
        widths[widest] -= step
        excess -= step
        candidates = [i for i in candidates if widths[i] > minimum[i]]
    return widths


def table_lines(header: Sequence[str], rows: Iterable[Sequence[str]], limit: int | None,
                right: Iterable[int] = (), elidable: Iterable[int] = ()) -> Iterator[str]:
    """The aligned lines of a table (header first), fitted to `limit` columns: the elidable
    columns are cut, widest first, to at least MIN_ELIDED characters (their header too); when
    that is not enough, the columns are one space apart instead of two."""
    table = [tuple(header), *(tuple(row) for row in rows)]
    natural = [max(len(row[i]) for row in table) for i in range(len(header))]
    elidable = tuple(elidable)
    minimum = [min(n, MIN_ELIDED) for n in natural]
    gap = GAP
    widths = fit_widths(natural, elidable, minimum, limit, gap)
    if limit is not None and sum(widths) + gap * (len(widths) - 1) > limit:
        gap = 1
        widths = fit_widths(natural, elidable, minimum, limit, gap)
    right = set(right)
    for row in table:
        parts = []
        for i, cell in enumerate(row):
            cell = elide(cell, widths[i])
            parts.append(cell.rjust(widths[i]) if i in right else cell.ljust(widths[i]))
        yield (" " * gap).join(parts).rstrip()
