"""The command line's fixed-width tables: a header, aligned columns, two spaces between."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TextIO


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
