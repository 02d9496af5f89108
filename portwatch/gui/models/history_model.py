"""The item models behind the History tab's table: the recorded events and a text filter.

`HistoryEventModel` keeps events in the order they arrived; that position is the event's
*index*, which the timeline plot uses too. The table can be sorted by any column: the model
keeps a row -> index permutation, computed with Python's sort on one key per event (50,000
rows in well under a second), instead of a QSortFilterProxyModel that would call data() twice
per comparison (a million Python calls). Rows are only ever inserted, never reset.
`EventFilterProxy` only filters, on a lower-case text per event, and hands sorting to the model.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Sequence
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtWidgets import QWidget

from portwatch.core.store.history import CLOSED, OPENED, HistoryEvent
from portwatch.core.text import visible
from portwatch.gui.style.plain import plain_tooltip

OPENED_COLOR = (46, 160, 67)
CLOSED_COLOR = (218, 54, 51)
BULK_INSERT = 500  # more rows than this arriving while sorted: append and sort again

IndexLike = QModelIndex | QPersistentModelIndex


def local_time(when: float) -> str:
    """2026-11-23 20:04:05 in the computer's time zone, as the plot's date axis shows it."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(when))


def describe_event(item: HistoryEvent) -> str:
    """Plain-text description of one event, for the hover label and tooltips."""
    sock = item.listener
    proc = sock.process
    who = f"{visible(proc.name, 60)} (pid {proc.pid})" if proc else "hidden owner"
    service = f", {visible(item.service, 40)}" if item.service else ""
    risk = f", risk {item.risk}" if item.risk else ""
    return (f"{local_time(item.time)}  {item.event}  {sock.proto.value} {sock.endpoint}  {who}"
            f"  {sock.exposure.label}{service}{risk}")


class Column(enum.IntEnum):
    TIME = 0
    EVENT = enum.auto()
    PROTO = enum.auto()
    ADDRESS = enum.auto()
    PORT = enum.auto()
    PID = enum.auto()
    PROCESS = enum.auto()
    EXPOSURE = enum.auto()
    SERVICE = enum.auto()
    RISK = enum.auto()

    @property
    def title(self) -> str:
        if self is Column.TIME:
            return "Time (local)"
        return self.name.capitalize() if self is not Column.PID else "PID"


SORT_ROLE = Qt.ItemDataRole.UserRole + 1  # native value the column sorts by
EVENT_ROLE = Qt.ItemDataRole.UserRole + 2  # the whole HistoryEvent


def cell_text(item: HistoryEvent, column: Column) -> str:
    sock = item.listener
    proc = sock.process
    if column is Column.TIME:
        return local_time(item.time)
    if column is Column.EVENT:
        return item.event
    if column is Column.PROTO:
        return sock.proto.value
    if column is Column.ADDRESS:
        return sock.address
    if column is Column.PORT:
        return str(sock.port)
    if column is Column.PID:
        return str(proc.pid) if proc else ""
    if column is Column.PROCESS:
        return visible(proc.name, 60) if proc else ("(hidden)" if sock.owner_hidden else "")
    if column is Column.EXPOSURE:
        return sock.exposure.label
    if column is Column.SERVICE:
        return visible(item.service, 40) if item.service else ""
    return item.risk or ""


def sort_key(column: Column) -> Callable[[HistoryEvent], Any]:
    """The native value a column sorts by (numbers as numbers, text case-insensitively)."""
    if column is Column.TIME:
        return lambda item: item.time
    if column is Column.PORT:
        return lambda item: item.listener.port
    if column is Column.PID:
        return lambda item: item.listener.pid if item.listener.pid is not None else -1
    if column is Column.EXPOSURE:
        return lambda item: item.listener.exposure.rank
    return lambda item: cell_text(item, column).lower()


def search_text(item: HistoryEvent) -> str:
    sock = item.listener
    proc = sock.process
    parts = [item.event, sock.proto.value, sock.endpoint, sock.exposure.label,
             item.service or "", item.risk or ""]
    if proc is not None:
        parts += [f"pid {proc.pid}", proc.name, proc.user or "", proc.exe or ""]
    return "\n".join(parts).lower()


class HistoryEventModel(QAbstractTableModel):
    """The recorded events: arrival order underneath, shown in any column's order."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._events: list[HistoryEvent] = []
        self._search: list[str] = []  # filter text per event index, made on first use
        self._sort_column = Column.TIME
        self._descending = False
        self._order: list[int] | None = None  # row -> event index; None: the same number
        self._keys: list[Any] = []  # the sort key of each row while _order is set
        self._rows: list[int] | None = None  # event index -> row (made when needed)

    # -- rows and event indexes ------------------------------------------------------------

    def event_index(self, row: int) -> int:
        return row if self._order is None else self._order[row]

    def row_of(self, event_index: int) -> int:
        if self._order is None:
            return event_index
        if self._rows is None or len(self._rows) != len(self._order):
            rows = [0] * len(self._order)
            for row, index in enumerate(self._order):
                rows[index] = row
            self._rows = rows
        return self._rows[event_index]

    def event_at(self, event_index: int) -> HistoryEvent:
        return self._events[event_index]

    def event_in_row(self, row: int) -> HistoryEvent:
        return self._events[self.event_index(row)]

    @property
    def events(self) -> list[HistoryEvent]:
        """All events, in arrival order (do not modify)."""
        return self._events

    # -- Qt's model API --------------------------------------------------------------------

    def rowCount(self, parent: IndexLike = QModelIndex()) -> int:  # noqa: B008 (Qt's API)
        return 0 if parent.isValid() else len(self._events)

    def columnCount(self, parent: IndexLike = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(Column)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return Column(section).title
        return None

    def data(self, index: IndexLike, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        item = self._events[self.event_index(index.row())]
        column = Column(index.column())
        if role == Qt.ItemDataRole.DisplayRole:
            return cell_text(item, column)
        if role == SORT_ROLE:
            return sort_key(column)(item)
        if role == EVENT_ROLE:
            return item
        if role == Qt.ItemDataRole.ToolTipRole and column is Column.PROCESS:
            proc = item.listener.process
            if proc is not None:
                command = " ".join(proc.cmdline) or proc.name
                return plain_tooltip(visible(f"{command}\n{proc.exe or ''}".strip()))
        if role == Qt.ItemDataRole.ForegroundRole and column is Column.EVENT:
            color = {OPENED: OPENED_COLOR, CLOSED: CLOSED_COLOR}.get(item.event)
            return pg.mkColor(color) if color else None
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (Column.PORT, Column.PID):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Show rows ordered by `column` (-1: arrival order); keeps the selection."""
        chosen = Column(column) if 0 <= column < len(Column) else Column.TIME
        descending = order == Qt.SortOrder.DescendingOrder

        def change() -> None:
            self._sort_column, self._descending = chosen, descending
            self._resort()

        self._relayout(change)

    def _relayout(self, change: Callable[[], None]) -> None:
        """Run `change` (which reorders rows) as one layout change; selections follow their
        events to their new rows."""
        self.layoutAboutToBeChanged.emit()
        persistent = self.persistentIndexList()
        followed = [self.event_index(index.row()) for index in persistent]
        change()
        self.changePersistentIndexList(
            persistent,
            [self.index(self.row_of(event), index.column())
             for event, index in zip(followed, persistent, strict=True)],
        )
        self.layoutChanged.emit()

    def _resort(self) -> None:
        self._rows = None
        if self._sort_column is Column.TIME and not self._descending:
            self._order, self._keys = None, []
            return
        key = sort_key(self._sort_column)
        keys = [key(item) for item in self._events]
        # sorted() is stable, also with reverse=True: equal keys stay in arrival order.
        order = sorted(range(len(keys)), key=keys.__getitem__, reverse=self._descending)
        self._order = order
        self._keys = [keys[index] for index in order]

    # -- updates ---------------------------------------------------------------------------

    def append(self, events: Sequence[HistoryEvent]) -> None:
        """Add events (newer than those held) at their place in the current order."""
        if not events:
            return
        if self._order is None:
            first = len(self._events)
            self.beginInsertRows(QModelIndex(), first, first + len(events) - 1)
            self._events.extend(events)
            self.endInsertRows()
        elif len(events) > BULK_INSERT:

            def change() -> None:
                self._events.extend(events)
                self._resort()

            self._relayout(change)
        else:
            key = sort_key(self._sort_column)
            for item in events:
                value = key(item)
                row = self._insertion_row(value)
                self.beginInsertRows(QModelIndex(), row, row)
                self._order.insert(row, len(self._events))
                self._keys.insert(row, value)
                self._events.append(item)
                self._rows = None
                self.endInsertRows()

    def _insertion_row(self, value: Any) -> int:
        """After every row with an equal key (new events come last among equals)."""
        keys, low, high = self._keys, 0, len(self._keys)
        while low < high:
            middle = (low + high) // 2
            before = keys[middle] < value if self._descending else value < keys[middle]
            if before:
                high = middle
            else:
                low = middle + 1
        return low

    # -- filtering -------------------------------------------------------------------------

    def search_texts(self) -> list[str]:
        """The filter text of every event, by event index (rows with the same listener share
        one string)."""
        if len(self._search) < len(self._events):
            cache: dict[tuple[Any, ...], str] = {}
            for item in self._events[len(self._search):]:
                key = (item.event, item.listener, item.service, item.risk)
                text = cache.get(key)
                if text is None:
                    text = cache[key] = search_text(item)
                self._search.append(text)
        return self._search

    def row_matches(self, row: int, needle: str) -> bool:
        return needle in self.search_texts()[self.event_index(row)]


class EventFilterProxy(QSortFilterProxyModel):
    """Rows whose text contains the filter text (case-insensitive). Sorting is the source
    model's (see HistoryEventModel.sort); this proxy keeps the source order."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._needle = ""

    @property
    def needle(self) -> str:
        return self._needle

    def set_text(self, text: str) -> None:
        needle = text.strip().lower()
        if needle == self._needle:
            return
        if hasattr(self, "beginFilterChange"):  # Qt >= 6.10; invalidateFilter is deprecated
            self.beginFilterChange()
            self._needle = needle
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            self._needle = needle
            self.invalidateFilter()

    def filterAcceptsRow(self, source_row: int, source_parent: IndexLike) -> bool:
        if not self._needle:
            return True
        source = self.sourceModel()
        assert isinstance(source, HistoryEventModel)
        return source.row_matches(source_row, self._needle)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        source = self.sourceModel()
        if isinstance(source, HistoryEventModel):
            source.sort(column, order)
