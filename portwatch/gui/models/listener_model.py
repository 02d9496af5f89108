"""The store of the listener table: a Qt item model that applies each PollResult incrementally.

Rows (listener_cells.Row) are keyed by ListenerKey and kept in arrival order. A poll becomes one
`beginInsertRows` for the new rows (appended at the end), `dataChanged` for the cells of rows
whose details changed, and closed rows turn "closing" (red) for `highlight_seconds` before one
batched removal; new rows are green for as long. Nothing is ever reset per poll. The window
shows the store through the sorted, filtered table of filter_proxy.py, which the store tells
about each batch directly (`follow()`): the rows inserted, removed, changed and restyled.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from itertools import count, islice
from operator import attrgetter
from typing import Protocol

from PySide6.QtCore import (
    QAbstractTableModel,
    QMetaMethod,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
)

from portwatch.core.model import AnnotatedListener, ListenerKey
from portwatch.core.monitor import PollResult
from portwatch.gui.models.listener_cells import (
    BACKGROUND,
    COLUMN_COUNT,
    DISPLAY,
    FOREGROUND,
    HEADERS,
    HIGHLIGHT_ROLES,
    LAST_COLUMN,
    NEVER,
    ROW_ROLE,
    SORT_ROLE,
    STATE_ROLE,
    CellLook,
    Column,
    Row,
    RowState,
    changed_columns,
    header_data,
)
from portwatch.gui.style import risk_style

__all__ = ["HEADERS", "HIGHLIGHT_SECONDS", "ROW_ROLE", "SORT_ROLE", "STATE_ROLE", "Column",
           "ListenerModel", "RowState"]

log = logging.getLogger(__name__)

HIGHLIGHT_SECONDS = 3.0  # how long new rows stay green and closed rows stay red
_KEY = attrgetter("key")


class Follower(Protocol):
    """What the store tells a sorted, filtered table about (filter_proxy.py), once per batch,
    after its own rows and signals are done."""

    def rows_inserted(self, rows: list[Row]) -> None: ...
    def rows_removed(self, rows: list[Row]) -> None: ...
    def rows_changed(self, changes: list[tuple[Row, int, int]]) -> None: ...  # first, last column
    def rows_restyled(self, rows: list[Row]) -> None: ...  # their highlight changed
    def all_restyled(self) -> None: ...


class ListenerModel(QAbstractTableModel):
    """Listeners as table rows in arrival order; `apply(PollResult)` updates them in place."""

    def __init__(self, parent: QObject | None = None, *,
                 highlight_seconds: float = HIGHLIGHT_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(parent)
        self._rows: list[Row] = []
        self._index: dict[ListenerKey, int] = {}
        self._deadlines: dict[ListenerKey, float] = {}  # rows that are NEW or CLOSING
        self._closing = 0
        self._highlight = highlight_seconds
        self._clock = clock
        # weakly: a table that is gone stops following (and never keeps the store alive)
        self._following: weakref.WeakSet[Follower] = weakref.WeakSet()
        self._changes: list[tuple[Row, int, int]] = []  # told to followers once per batch
        self._restyled: list[Row] = []
        # dataChanged only when something listens: the window's table follows instead, and
        # two Qt calls per changed row are a fifth of a poll's cost at 20,000 rows
        self._data_changed = QMetaMethod.fromSignal(self.dataChanged)
        self._sweep = QTimer(self)
        self._sweep.setSingleShot(True)
        self._sweep.timeout.connect(self.expire_highlights)
        self.look = CellLook(risk_style.dark_palette_in_use())

    def follow(self, follower: Follower) -> None:
        """Tell `follower` about every later change (filter_proxy.py's sorted table)."""
        self._following.add(follower)

    def unfollow(self, follower: Follower) -> None:
        self._following.discard(follower)

    @property
    def _followers(self) -> list[Follower]:
        return list(self._following)

    def set_dark(self, dark: bool) -> None:
        """Row highlight and muted text colours for a dark (or light) palette."""
        self.look.set_dark(dark)
        if self._rows:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._rows) - 1, LAST_COLUMN),
                                  [BACKGROUND, FOREGROUND])
        for follower in self._followers:
            follower.all_restyled()

    # --- Qt model interface -------------------------------------------------------------
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else COLUMN_COUNT

    def index(self, row: int, column: int,
              parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> QModelIndex:  # noqa: B008
        # Qt's own index() asks rowCount() and columnCount(): two Python calls instead of one.
        if 0 <= row < len(self._rows) and 0 <= column < COLUMN_COUNT and not parent.isValid():
            return self.createIndex(row, column)
        return QModelIndex()

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = DISPLAY) -> object:
        return header_data(section, orientation, role)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = DISPLAY) -> object:
        if role in NEVER or not index.isValid():
            return None
        return self.look.data(self._rows[index.row()], index.column(), role)

    # --- lookups for views and the sorted table -----------------------------------------
    def item_at(self, row: int) -> AnnotatedListener:
        return self._rows[row].item

    def state_at(self, row: int) -> RowState:
        return self._rows[row].state

    def row_of(self, key: ListenerKey) -> int | None:
        return self._index.get(key)

    def row_object(self, row: int) -> Row:
        """The Row behind `row` (shared with the sorted table)."""
        return self._rows[row]

    def rows(self) -> list[Row]:
        """Every Row, in arrival order (a copy)."""
        return list(self._rows)

    def first_seen_of(self, key: ListenerKey) -> float | None:
        """When the table first saw this listener (its First seen), None when not listed."""
        index = self._index.get(key)
        return self._rows[index].first_seen if index is not None else None

    def items(self) -> list[AnnotatedListener]:
        """Listeners currently open (closing rows excluded)."""
        return [row.item for row in self._rows if row.state is not RowState.CLOSING]

    @property
    def open_count(self) -> int:
        return len(self._rows) - self._closing

    def closing_rows(self) -> list[int]:
        """The rows of listeners that closed and are fading out (red), few at any time."""
        rows, found = self._rows, []
        for key in self._deadlines:
            index = self._index.get(key, -1)
            # (while rows are being removed, positions after them are renumbered last)
            if 0 <= index < len(rows) and rows[index].key == key \
                    and rows[index].state is RowState.CLOSING:
                found.append(index)
        return found

    # --- applying polls -----------------------------------------------------------------
    def apply(self, result: PollResult) -> None:
        """Bring the table up to date with one poll (no highlight on the first poll)."""
        if result.first:
            self._reconcile(result.rows, highlight=False, seen=result.snapshot.taken_at)
            return
        self._apply_changes(result.opened, result.closed, result.changed, highlight=True,
                            seen=result.snapshot.taken_at)
        if self.open_count != len(result.rows):  # a missed poll or a monitor restart
            log.warning("table out of step with the scan (%d rows, scan has %d); reconciling",
                        self.open_count, len(result.rows))
            self._reconcile(result.rows, highlight=True, seen=result.snapshot.taken_at)

    def _reconcile(self, rows: Sequence[AnnotatedListener], highlight: bool,
                   seen: float) -> None:
        current = {item.key: item for item in rows}
        closed = [row.item for row in self._rows
                  if row.state is not RowState.CLOSING and row.key not in current]
        opened: list[AnnotatedListener] = []
        changed: list[AnnotatedListener] = []
        for key, item in current.items():
            index = self._index.get(key)
            if index is None or self._rows[index].state is RowState.CLOSING:
                opened.append(item)
            elif self._rows[index].item != item:
                changed.append(item)
        self._apply_changes(opened, closed, changed, highlight, seen)

    def _apply_changes(self, opened: Iterable[AnnotatedListener],
                       closed: Iterable[AnnotatedListener],
                       changed: Iterable[AnnotatedListener], highlight: bool,
                       seen: float) -> None:
        highlight = highlight and self._highlight > 0
        deadline = self._clock() + self._highlight
        doomed: list[int] = []
        for item in closed:
            index = self._index.get(item.key)
            if index is None or self._rows[index].state is RowState.CLOSING:
                continue
            if highlight:
                self._set_state(index, RowState.CLOSING, deadline)
            else:
                doomed.append(index)
        fresh: list[Row] = []
        for item in (*changed, *opened):
            index = self._index.get(item.key)
            if index is None:
                state = RowState.NEW if highlight else RowState.NORMAL
                fresh.append(Row(item, state, seen))
                if highlight:
                    self._deadlines[item.key] = deadline
                continue
            row = self._rows[index]
            if row.state is RowState.CLOSING:  # reopened before its red time was up
                self._set_state(index, RowState.NORMAL, None)
            if row.item != item:
                self._replace(index, item)
        if fresh:
            first = len(self._rows)
            self.beginInsertRows(QModelIndex(), first, first + len(fresh) - 1)
            self._rows.extend(fresh)
            for offset, row in enumerate(fresh, first):
                self._index[row.key] = offset
            self.endInsertRows()
            for follower in self._followers:
                follower.rows_inserted(fresh)
        self._tell_followers()  # (before removing: the changes are to rows that stay)
        if doomed:
            self._remove(doomed)
        self._schedule_sweep()

    def _replace(self, index: int, item: AnnotatedListener) -> None:
        row = self._rows[index]
        columns = changed_columns(row.item, item)
        row.replace(item)  # cells are recomputed lazily, when a view or the sorted table asks
        left, right = (int(columns[0]), int(columns[-1])) if columns else (0, LAST_COLUMN)
        if self.isSignalConnected(self._data_changed):
            self.dataChanged.emit(self.createIndex(index, left), self.createIndex(index, right))
        self._changes.append((row, left, right))

    def _set_state(self, index: int, state: RowState, deadline: float | None) -> None:
        row = self._rows[index]
        if row.state is RowState.CLOSING:
            self._closing -= 1
        if state is RowState.CLOSING:
            self._closing += 1
        row.state = state
        key = row.key
        if deadline is None:
            self._deadlines.pop(key, None)
        else:
            self._deadlines[key] = deadline
        if self.isSignalConnected(self._data_changed):
            self.dataChanged.emit(self.createIndex(index, 0),
                                  self.createIndex(index, LAST_COLUMN), HIGHLIGHT_ROLES)
        self._restyled.append(row)

    def _tell_followers(self) -> None:
        """The rows changed and restyled since the last call, to each follower at once."""
        changes, restyled = self._changes, self._restyled
        if not changes and not restyled:
            return
        self._changes, self._restyled = [], []
        for follower in self._followers:
            if changes:
                follower.rows_changed(changes)
            if restyled:
                follower.rows_restyled(restyled)

    def _remove(self, indexes: Iterable[int]) -> None:
        """Remove rows, one beginRemoveRows per contiguous run (highest first), then renumber
        only the rows after the first removed one."""
        ordered = sorted(set(indexes), reverse=True)
        if not ordered:
            return
        runs: list[tuple[int, int]] = []
        high = low = ordered[0]
        for index in ordered[1:]:
            if index == low - 1:
                low = index
            else:
                runs.append((low, high))
                high = low = index
        runs.append((low, high))
        gone = [self._rows[index] for index in ordered]
        for low, high in runs:
            self.beginRemoveRows(QModelIndex(), low, high)
            for row in self._rows[low:high + 1]:
                del self._index[row.key]
                self._deadlines.pop(row.key, None)
                if row.state is RowState.CLOSING:
                    self._closing -= 1
            del self._rows[low:high + 1]
            self.endRemoveRows()
        first = runs[-1][0]  # renumbered in C (a Python loop costs 4 ms at 20,000 rows)
        self._index.update(zip(map(_KEY, islice(self._rows, first, None)), count(first)))
        for follower in self._followers:
            follower.rows_removed(gone)

    # --- highlight expiry ---------------------------------------------------------------
    def expire_highlights(self) -> None:
        """End highlights whose time is up: green rows turn normal, red rows are removed."""
        now = self._clock()
        doomed: list[int] = []
        for key, deadline in list(self._deadlines.items()):
            if deadline > now:
                continue
            index = self._index[key]
            if self._rows[index].state is RowState.CLOSING:
                doomed.append(index)
            else:
                self._set_state(index, RowState.NORMAL, None)
        self._tell_followers()
        self._remove(doomed)
        self._schedule_sweep()

    def _schedule_sweep(self) -> None:
        if not self._deadlines:
            self._sweep.stop()
            return
        wait = min(self._deadlines.values()) - self._clock()
        self._sweep.start(max(int(wait * 1000) + 1, 0))

