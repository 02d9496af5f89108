"""The command line's fixed-width tables: a header, aligned columns, two spaces between,
fitted to the terminal's width (commands/termwidth.py: the text columns are cut first).

The listener columns of `list` and `history` are the fields with a `cli` header, in field
order (`portwatch.core.fields`); their cells are made from the JSON record.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TextIO

from portwatch.commands.termwidth import table_lines
from portwatch.core.fields import FIELDS, HISTORY, Field, Record

LIST_COLUMNS: tuple[Field, ...] = tuple(field for field in FIELDS
                                        if field.cli and not field.on_request)
HISTORY_COLUMNS: tuple[Field, ...] = HISTORY


def headers(columns: Sequence[Field]) -> tuple[str, ...]:
    return tuple(field.cli or "" for field in columns)


def right_aligned(columns: Sequence[Field], offset: int = 0) -> set[int]:
    """The indexes of the numeric columns (ports, PIDs), after `offset` leading columns."""
    return {offset + number for number, field in enumerate(columns) if field.right}


def cells(record: Record, columns: Sequence[Field]) -> tuple[str, ...]:
    return tuple(field.cli_text(record) for field in columns)  # type: ignore[misc]


def elidable(columns: Sequence[Field], offset: int = 0) -> set[int]:
    """The indexes of the text columns that may be cut to fit, after `offset` columns."""
    return {offset + number for number, field in enumerate(columns) if field.cli_elide}


def print_table(header: Sequence[str], rows: Sequence[Sequence[str]], out: TextIO,
                right: Collection[int] = (), elide: Collection[int] = (),
                width: int | None = None) -> None:
    """Write `header` and `rows` as columns as wide as their widest cell (the columns whose
    index is in `right`, numbers, right-aligned), fitted to `width` terminal columns by cutting
    the columns in `elide` (None: every cell in full). Trailing blanks are cut."""
    for line in table_lines(header, rows, width, right, elide):
        out.write(line + "\n")
