"""The order of the listener table's shown rows: a sorted list kept up to date by bisection.

`SortedRows` holds the rows the filter lets through, sorted by one column's sort value
(listener_cells.Row.sort_value), ties broken by the row's arrival (`Row.serial`), ascending or
descending. A poll's few new, closed and changed rows are placed, removed and moved one
bisection each (O(log n) comparisons of plain tuples, in C) instead of a re-sort; each change
is announced to a `Signals` object (the Qt model of filter_proxy.py) as ranged begin/end
calls in view positions, so the view hears about contiguous runs, never the whole table.
Column -1 is arrival order (unsorted). No Qt here: tests check it against a full sort.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from operator import itemgetter
from typing import Protocol

from portwatch.gui.models.listener_cells import Row

_FIRST = itemgetter(0)


class Signals(Protocol):
    """Where the begin/end of each change goes, in view positions (Qt's rules for
    beginInsertRows, beginRemoveRows and beginMoveRows)."""

    def begin_insert(self, first: int, last: int) -> None: ...
    def end_insert(self) -> None: ...
    def begin_remove(self, first: int, last: int) -> None: ...
    def end_remove(self) -> None: ...
    def begin_move(self, row: int, destination: int) -> None: ...
    def end_move(self) -> None: ...


class SortedRows:
    """Rows in one column's order; view position r is internal index r, or n-1-r when
    descending (the internal list is always ascending)."""

    def __init__(self, column: int = -1, descending: bool = False) -> None:
        self.column = column
        self.descending = descending
        self._keys: list[tuple] = []  # ascending, unique (the serial breaks ties)
        self._rows: list[Row] = []
        self._filed: dict[Row, tuple] = {}  # the key each row is filed under

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, row: Row) -> bool:
        return row in self._filed

    def key(self, row: Row) -> tuple:
        """Descending order shows the internal list backwards: its ties are filed newest
        first so that they still show oldest first."""
        serial = -row.serial if self.descending else row.serial
        if self.column < 0:
            return (serial,)
        return (row.sort_value(self.column), serial)

    def at(self, position: int) -> Row:
        """The row shown at view position `position`."""
        return self._rows[len(self._rows) - 1 - position if self.descending else position]

    def rows(self) -> list[Row]:
        """The rows in view order."""
        return self._rows[::-1] if self.descending else list(self._rows)

    def position(self, row: Row) -> int | None:
        """The view position of `row`, None when it is not shown."""
        key = self._filed.get(row)
        if key is None:
            return None
        return self._view(bisect_left(self._keys, key))

    def _view(self, index: int, count: int | None = None) -> int:
        count = len(self._rows) if count is None else count
        return count - 1 - index if self.descending else index

    # --- whole-table changes (no signals: the caller resets or re-lays out the view) -------
    def resort(self, column: int, descending: bool) -> None:
        self.column, self.descending = column, descending
        self.rebuild(self._rows)

    def rebuild(self, rows: Iterable[Row]) -> None:
        filed = sorted(((self.key(row), row) for row in rows), key=_FIRST)
        self._keys = [key for key, _row in filed]
        self._rows = [row for _key, row in filed]
        self._filed = dict(zip(self._rows, self._keys, strict=True))

    # --- incremental changes ------------------------------------------------------------
    def insert(self, rows: Iterable[Row], signals: Signals) -> None:
        """File new rows: one insertion per run of rows that land side by side."""
        new = sorted(((self.key(row), row) for row in rows if row not in self._filed),
                     key=_FIRST)
        if not new:
            return
        keys = self._keys
        places = [bisect_left(keys, key) for key, _row in new]
        end = len(new)
        while end:  # the highest place first: lower places stay where they are
            place = places[end - 1]
            start = end - 1
            while start and places[start - 1] == place:
                start -= 1
            group = new[start:end]
            count = len(self._rows)
            first = count - place if self.descending else place
            signals.begin_insert(first, first + len(group) - 1)
            keys[place:place] = [key for key, _row in group]
            self._rows[place:place] = [row for _key, row in group]
            self._filed.update((row, key) for key, row in group)
            signals.end_insert()
            end = start

    def remove(self, rows: Iterable[Row], signals: Signals) -> None:
        """Unfile rows (those not shown are ignored): one removal per contiguous run."""
        keys = self._keys
        indexes = sorted((bisect_left(keys, self._filed[row]) for row in rows
                          if row in self._filed), reverse=True)
        end = 0
        while end < len(indexes):
            high = low = indexes[end]
            end += 1
            while end < len(indexes) and indexes[end] == low - 1:
                low = indexes[end]
                end += 1
            count = len(self._rows)
            first, last = (count - 1 - high, count - 1 - low) if self.descending else (low, high)
            signals.begin_remove(first, last)
            for row in self._rows[low:high + 1]:
                del self._filed[row]
            del keys[low:high + 1]
            del self._rows[low:high + 1]
            signals.end_remove()

    def update(self, row: Row, shown: bool, signals: Signals) -> int | None:
        """A row whose values changed: shown or hidden by the filter, moved when its sort
        value changed. Its view position afterwards (None when hidden)."""
        old = self._filed.get(row)
        if not shown:
            if old is not None:
                self.remove([row], signals)
            return None
        if old is None:
            self.insert([row], signals)
            return self.position(row)
        new = self.key(row)
        keys = self._keys
        index = bisect_left(keys, old)
        if new == old:
            return self._view(index)
        place = bisect_left(keys, new)
        if place > index:
            place -= 1  # its place once it is out of the list
        self._filed[row] = new
        if place == index:  # still between the same neighbours
            keys[index] = new
            return self._view(index)
        count = len(self._rows)
        source, target = self._view(index, count), self._view(place, count)
        signals.begin_move(source, target if target < source else target + 1)
        del keys[index]
        del self._rows[index]
        keys.insert(place, new)
        self._rows.insert(place, row)
        signals.end_move()
        return target
