"""The command line's fixed-width tables: a header, aligned columns, two spaces between.

The listener columns of `list` and `history` are the fields with a `cli` header, in field
order (`portwatch.core.fields`); their cells are made from the JSON record.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TextIO

from portwatch.core.fields import FIELDS, Field, Record

LIST_COLUMNS: tuple[Field, ...] = tuple(field for field in FIELDS
                                        if field.cli and not field.on_request)
HISTORY_COLUMNS: tuple[Field, ...] = tuple(field for field in LIST_COLUMNS if field.in_history)


def headers(columns: Sequence[Field]) -> tuple[str, ...]:
    return tuple(field.cli or "" for field in columns)


def right_aligned(columns: Sequence[Field], offset: int = 0) -> set[int]:
    """The indexes of the numeric columns (ports, PIDs), after `offset` leading columns."""
    return {offset + number for number, field in enumerate(columns) if field.right}


def cells(record: Record, columns: Sequence[Field]) -> tuple[str, ...]:
    return tuple(field.cli_text(record) for field in columns)  # type: ignore[misc]


def print_table(header: Sequence[str], rows: Sequence[Sequence[str]], out: TextIO,
                right: Collection[int] = ()) -> None:
    """Write `header` and `rows` as columns as wide as their widest cell; the columns whose
    index is in `right` (numbers: ports, PIDs) are right-aligned. Trailing blanks are cut."""
    table = [tuple(header), *rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        parts = [cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
                 for i, cell in enumerate(row)]
        out.write("  ".join(parts).rstrip() + "\n")
