"""The History tab's table model: the recorded events, paged from the history file on demand.

The model holds no list of events. In recording order without a filter (what the tab opens
with) row r is the event with id `first + r` (ids are dense: retention only deletes a prefix),
so its size is two numbers whatever the file holds; rows are read a page at a time when the
view asks for them and at most `PAGES_KEPT` pages stay in memory. A filter or another sort
column keeps the matching ids (8 bytes each), found in SQL: the filter a slice of ids at a
time with the event loop running in between (`scanning`), a sort in one query on the stored
value when at most SORT_MAX events are sorted. New events are appended as rows (never a
reset); events deleted by retention leave as rows.

The columns are the time, the event, then the fields of the `history` command's table, from
the declarations in `portwatch.core.fields` (history_columns.py).
"""

from __future__ import annotations

import bisect
import logging
from array import array
from collections import OrderedDict
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)

from portwatch.core.store.history import HistoryEvent, HistoryReader
from portwatch.gui.models.history_columns import (
    COLUMN_COUNT,
    EVENT_ROLE,
    SORT_SQL,
    Column,
    Row,
    descending_place,
    header_data,
    row_of_event,
    sortable,
)

log = logging.getLogger(__name__)

PAGE = 200  # rows read together
PAGES_KEPT = 30  # pages held (6,000 rows)
SCAN_SLICE = 100_000  # ids the filter searches per turn of the event loop
SORT_MAX = 200_000  # events sorted by another column than the time, at most
BULK_INSERT = 500  # more new events than this while sorted otherwise: sorted again at once

IndexLike = QModelIndex | QPersistentModelIndex


class HistoryEventModel(QAbstractTableModel):
    """The events of a history file, read on demand; rows in recording order, a filter's
    matches, or ordered by a column's stored value."""

    scan_finished = Signal()
    selected_again = Signal()  # after the rows were chosen again (another sort or filter)
    note_changed = Signal(str)  # what the table cannot do now, in words ("" when nothing)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._reader: HistoryReader | None = None
        self._first, self._last = 1, 0  # the ids shown (an empty range: no rows)
        self._descending = False
        self._needle = ""
        self._sort_column = Column.TIME
        self._ids: array | None = None  # the rows' ids, when filtered or sorted otherwise
        self._keys: list[tuple] | None = None  # their sort keys, when sorted otherwise
        self._scan_next: int | None = None  # the next id the filter searches from
        self._pages: OrderedDict[int, list[Row | None]] = OrderedDict()
        self.note = ""
        self._scan_timer = QTimer(self)
        self._scan_timer.setSingleShot(True)
        self._scan_timer.setInterval(0)
        self._scan_timer.timeout.connect(self._scan_step)

    # -- the source ------------------------------------------------------------------------

    def set_reader(self, reader: HistoryReader | None) -> None:
        """Show the events of `reader` (None: none)."""
        self.beginResetModel()
        self._reader = reader
        self._first, self._last = (1, 0) if reader is None else (
            reader.first_event_id() or 1, reader.last_event_id())
        self._ids = None
        self._pages.clear()
        self.endResetModel()
        self._select()

    @property
    def reader(self) -> HistoryReader | None:
        return self._reader

    @property
    def needle(self) -> str:
        return self._needle

    @property
    def scanning(self) -> bool:
        """True while the filter is still searching the file."""
        return self._scan_next is not None

    def event_count(self) -> int:
        """How many events are shown when nothing is filtered."""
        return max(0, self._last - self._first + 1)

    # -- rows <-> ids ----------------------------------------------------------------------

    def id_at(self, row: int) -> int:
        if self._ids is not None:
            return self._ids[row]
        return self._last - row if self._descending else self._first + row

    def row_of(self, event_id: int) -> int:
        """The row of event `event_id`, or -1 when it is not shown."""
        if self._ids is not None:
            try:
                return self._ids.index(event_id)
            except ValueError:
                return -1
        if not self._first <= event_id <= self._last:
            return -1
        return self._last - event_id if self._descending else event_id - self._first

    def event_in_row(self, row: int) -> HistoryEvent | None:
        found = self._row(row)
        return found.event if found is not None else None

    def event_by_id(self, event_id: int) -> HistoryEvent | None:
        if self._reader is None:
            return None
        row = self.row_of(event_id)
        if row >= 0:
            return self.event_in_row(row)
        found = self._reader.events_between(event_id, event_id)
        return found[0] if found else None

    def _row(self, row: int) -> Row | None:
        page = row // PAGE
        rows = self._pages.get(page)
        if rows is None:
            rows = self._read_page(page)
            self._pages[page] = rows
            while len(self._pages) > PAGES_KEPT:
                self._pages.popitem(last=False)
        else:
            self._pages.move_to_end(page)
        offset = row - page * PAGE
        return rows[offset] if offset < len(rows) else None

    def _read_page(self, page: int) -> list[Row | None]:
        if self._reader is None:
            return []
        start, end = page * PAGE, min(self.rowCount(), (page + 1) * PAGE)
        ids = [self.id_at(row) for row in range(start, end)]
        if not ids:
            return []
        if self._ids is None:
            found = {item.id: item for item in
                     self._reader.events_between(min(ids), max(ids))}
        else:
            found = {item.id: item for item in self._reader.events_with_ids(ids)}
        return [row_of_event(found[event_id]) if event_id in found else None
                for event_id in ids]

    # -- Qt's model API --------------------------------------------------------------------

    def rowCount(self, parent: IndexLike = QModelIndex()) -> int:  # noqa: B008 (Qt's API)
        if parent.isValid():
            return 0
        return len(self._ids) if self._ids is not None else self.event_count()

    def columnCount(self, parent: IndexLike = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else COLUMN_COUNT

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal:
            return header_data(section, role)
        return None

    def data(self, index: IndexLike, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or self._reader is None:
            return None
        found = self._row(index.row())
        if found is None:
            return "" if role == Qt.ItemDataRole.DisplayRole else None
        if role == EVENT_ROLE:
            return found.event
        return found.data(index.column(), role)

    # -- sorting and filtering (in SQL) ----------------------------------------------------

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Order rows by `column` (-1 or the time: recording order)."""
        chosen = Column(column) if 0 <= column < COLUMN_COUNT else Column.TIME
        descending = order == Qt.SortOrder.DescendingOrder and column >= 0
        if (chosen, descending) == (self._sort_column, self._descending) and not self.note:
            return  # the view asks twice for one header click
        self._sort_column, self._descending = chosen, descending
        self._select()

    def set_filter(self, text: str) -> None:
        """Show only the events whose searched fields contain `text` (case-insensitive)."""
        needle = text.strip().lower()
        if needle != self._needle:
            self._needle = needle
            self._select()

    def _select(self) -> None:
        """Rows for the current sort and filter: a reset (the rows are others). Another
        column than the time sorts at most SORT_MAX events: with a filter on a longer
        history, once the filter's search is done."""
        self._scan_timer.stop()
        self._scan_next = None
        note = ""
        self.beginResetModel()
        self._pages.clear()
        self._ids, self._keys = None, None
        reader = self._reader
        if reader is not None and self._sort_column is not Column.TIME:
            values = None
            if self.event_count() <= SORT_MAX:
                values = reader.sort_values(SORT_SQL[self._sort_column], self._needle,
                                            cap=SORT_MAX)
            if values is not None:
                self._order(values)
            elif not self._needle:
                note = self._too_many()
        if self._ids is None and reader is not None and (self._needle or self._gaps()):
            self._ids = array("q")  # the filter's matches, or the ids there are
            self._scan_next = self._last if self._scan_descending else self._first
        self.endResetModel()
        self._set_note(note)
        if self._scan_next is not None:
            self._scan_step()
        self.selected_again.emit()

    def _gaps(self) -> bool:
        """Whether ids are missing between the first and the last (a file of schema 2 whose
        retention deleted by time): then the rows are the ids there are, not a range."""
        return self._reader is not None and self._reader.stored_count() != self.event_count()

    @property
    def _scan_descending(self) -> bool:
        return self._descending and self._sort_column is Column.TIME

    def _too_many(self) -> str:
        title = self._sort_column.title
        self._sort_column = Column.TIME
        return (f"Sorting by {title} needs a filter that leaves at most {SORT_MAX:,} events;"
                " shown in the order recorded.")

    def _order(self, values: list[tuple[int, Any]]) -> None:
        """Rows in the order of the sort values (numbers before text, empty first; equal
        values in recording order; all reversed when descending)."""
        keyed = sorted(((sortable(value), event_id) for event_id, value in values),
                       reverse=self._descending)
        self._keys = keyed
        self._ids = array("q", (event_id for _value, event_id in keyed))

    def _sort_found(self) -> None:
        """The filter's search is done: sort what it found by the column asked for."""
        if self._reader is None or self._ids is None:
            return
        if len(self._ids) > SORT_MAX:
            self._set_note(self._too_many())
            return
        values = self._reader.sort_values(SORT_SQL[self._sort_column], cap=SORT_MAX,
                                          ids=self._ids)
        self.beginResetModel()
        self._pages.clear()
        self._order(values or [])
        self.endResetModel()
        self.selected_again.emit()

    def _scan_step(self) -> None:
        """Search the next slice of ids for the filter and append the rows it matches."""
        start = self._scan_next
        if start is None or self._reader is None or self._ids is None:
            return
        if self._scan_descending:
            low, high = max(self._first, start - SCAN_SLICE + 1), start
            self._scan_next = low - 1 if low > self._first else None
        else:
            low, high = start, min(self._last, start + SCAN_SLICE - 1)
            self._scan_next = high + 1 if high < self._last else None
        if low <= high:
            self._append_ids(self._reader.matching_ids(low, high, self._needle,
                                                       descending=self._scan_descending))
        if self._scan_next is not None:
            self._scan_timer.start()
            return
        if self._sort_column is not Column.TIME and self._keys is None:
            self._sort_found()
        self.scan_finished.emit()

    def _append_ids(self, ids: list[int], at_top: bool = False) -> None:
        if not ids or self._ids is None:
            return
        count = len(self._ids)
        first = 0 if at_top else count
        self.beginInsertRows(QModelIndex(), first, first + len(ids) - 1)
        if at_top:
            self._ids[0:0] = array("q", ids)
            self._pages.clear()
        else:
            self._ids.extend(ids)
            self._pages.pop(count // PAGE, None)  # the last page grows
        self.endInsertRows()

    def _set_note(self, note: str) -> None:
        if note != self.note:
            self.note = note
            self.note_changed.emit(note)

    # -- following the file ----------------------------------------------------------------

    def follow(self) -> int:
        """Take in what changed in the file since the last look: new events become rows (at
        the end, or at the top when the newest come first), events deleted by retention stop
        being rows. Returns how many new events there were."""
        reader = self._reader
        if reader is None:
            return 0
        first, last = reader.first_event_id() or 1, reader.last_event_id()
        if first > self._first:
            if self.event_count():
                self._forget_below(first)
            else:
                self._first = first
        old_last = max(self._last, self._first - 1)
        if last <= old_last:
            return 0
        if self._ids is None:
            count = self.rowCount()
            start = 0 if self._descending else count
            self.beginInsertRows(QModelIndex(), start, start + last - old_last - 1)
            self._last = last
            if self._descending:
                self._pages.clear()
            else:
                self._pages.pop(count // PAGE, None)  # the last page grows
            self.endInsertRows()
            return last - old_last
        self._last = last
        if self._keys is not None:
            self._insert_sorted(old_last + 1, last)
        elif self._scan_next is None or self._scan_descending:  # (an ascending search gets
            self._append_ids(reader.matching_ids(old_last + 1, last, self._needle,  # there)
                                                 descending=self._scan_descending),
                             at_top=self._scan_descending)
        return last - old_last

    def _insert_sorted(self, first: int, last: int) -> None:
        """New events at their sorted places (all sorted again when many come at once)."""
        assert self._reader is not None and self._ids is not None and self._keys is not None
        ids = (self._reader.matching_ids(first, last, self._needle) if self._needle
               else range(first, last + 1))
        values = self._reader.sort_values(SORT_SQL[self._sort_column], cap=SORT_MAX, ids=ids)
        if not values:
            return
        if len(self._ids) + len(values) > SORT_MAX or len(values) > BULK_INSERT:
            self._select()  # too many now, or cheaper to sort once
            return
        keys = self._keys
        for event_id, value in values:
            key = (sortable(value), event_id)
            row = descending_place(keys, key) if self._descending else \
                bisect.bisect_right(keys, key)
            self.beginInsertRows(QModelIndex(), row, row)
            keys.insert(row, key)
            self._ids.insert(row, event_id)
            self._pages.clear()
            self.endInsertRows()

    def _forget_below(self, first: int) -> None:
        """Retention deleted the events before `first`."""
        if self._ids is not None:
            self._first = first
            self._select()
            return
        gone = min(first, self._last + 1) - self._first
        rows = self.rowCount()
        start = rows - gone if self._descending else 0
        self.beginRemoveRows(QModelIndex(), start, start + gone - 1)
        self._first = first
        self._pages.clear()
        self.endRemoveRows()
