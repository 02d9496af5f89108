"""The table of listeners: a Qt item model that applies each PollResult incrementally.

Rows are keyed by ListenerKey. A poll becomes one `beginInsertRows` for the new rows (appended
at the end), `dataChanged` for rows whose details changed, and closed rows turn "closing" (red)
for `highlight_seconds` before one batched removal; new rows are green for as long. Nothing is
ever reset per poll, so the view keeps its selection and scroll position. Sorting and filtering
live in the proxy (filter_proxy.py), on the native values of SORT_ROLE.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable, Iterable, Sequence

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
)
from PySide6.QtGui import QBrush, QColor, QFont

from portwatch.core import fields
from portwatch.core.fields.catalog_facts import notes_are_context
from portwatch.core.model import AnnotatedListener, ListenerKey, Risk
from portwatch.core.monitor import PollResult
from portwatch.gui.style import risk_style
from portwatch.gui.style.plain import plain_tooltip

log = logging.getLogger(__name__)

HIGHLIGHT_SECONDS = 3.0  # how long new rows stay green and closed rows stay red


# The columns: one per field of fields.TABLE (its header, tooltip, cells, sort value and the
# parts of a row it depends on all come from the field's declaration), then "First seen".
Column = enum.IntEnum("Column", [(field.column or field.key.upper(), number)
                                 for number, field in enumerate(fields.TABLE)]
                      + [("FIRST_SEEN", len(fields.TABLE))])
FIRST_SEEN_TIP = "When portwatch first saw this listener in this session"
HEADERS = {**{Column(number): field.label for number, field in enumerate(fields.TABLE)},
           Column.FIRST_SEEN: "First seen"}
HEADER_TIPS = {**{Column(number): field.tip for number, field in enumerate(fields.TABLE)
                  if field.tip},
               Column.FIRST_SEEN: FIRST_SEEN_TIP}

SORT_ROLE = int(Qt.ItemDataRole.UserRole) + 1  # native Python values (int, float, str)
ROW_ROLE = int(Qt.ItemDataRole.UserRole) + 2  # the AnnotatedListener
STATE_ROLE = int(Qt.ItemDataRole.UserRole) + 3  # RowState

_DISPLAY = int(Qt.ItemDataRole.DisplayRole)
_DECORATION = int(Qt.ItemDataRole.DecorationRole)
_TOOLTIP = int(Qt.ItemDataRole.ToolTipRole)
_BACKGROUND = int(Qt.ItemDataRole.BackgroundRole)
_FOREGROUND = int(Qt.ItemDataRole.ForegroundRole)
_FONT = int(Qt.ItemDataRole.FontRole)
_ALIGNMENT = int(Qt.ItemDataRole.TextAlignmentRole)
_COLUMN_COUNT = len(Column)
_LAST_COLUMN = _COLUMN_COUNT - 1
_RIGHT_FLAGS = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
_RIGHT = int(_RIGHT_FLAGS)
# Roles a view asks for that this model never answers (CheckState, SizeHint, …)
_NEVER = frozenset(int(r) for r in (Qt.ItemDataRole.CheckStateRole, Qt.ItemDataRole.SizeHintRole,
                                    Qt.ItemDataRole.StatusTipRole, Qt.ItemDataRole.WhatsThisRole,
                                    Qt.ItemDataRole.EditRole))
_HIGHLIGHT_ROLES = [_BACKGROUND, _FOREGROUND, _FONT, STATE_ROLE]


class RowState(enum.Enum):
    NORMAL = "normal"
    NEW = "new"  # appeared in the last highlight_seconds (green)
    CLOSING = "closing"  # closed; removed after highlight_seconds (red)


_TEXT = tuple(field.text for field in fields.TABLE)
_SORT = tuple(field.sort for field in fields.TABLE)
_CELL_TIPS = tuple(field.cell_tip for field in fields.TABLE)
_RIGHT_COLUMNS = frozenset(number for number, field in enumerate(fields.TABLE) if field.right)
_DEPENDS = tuple((Column(number), field.depends) for number, field in enumerate(fields.TABLE))
# Plain values for data()'s hot path (IntEnum comparisons and lookups cost more than ints)
_NORMAL = RowState.NORMAL
_RISK, _SERVICE, _SECURITY = int(Column.RISK), int(Column.SERVICE), int(Column.SECURITY)
_MUTABLE_COLUMNS = frozenset({_RISK, _SERVICE, _SECURITY})  # those that may be greyed
_HEADER_TEXTS = tuple(HEADERS[column] for column in Column)
_HEADER_TIP_TEXTS = tuple(HEADER_TIPS.get(column) for column in Column)


class _Row:
    """One table row: the listener, its highlight state and lazily computed cell values."""

    __slots__ = ("_display", "first_seen", "item", "key", "sort_keys", "state")

    def __init__(self, item: AnnotatedListener, state: RowState, first_seen: float) -> None:
        self.item = item
        self.key = item.key  # never changes for a row (building it is not free)
        self.state = state
        self.first_seen = first_seen
        self._display: tuple[str, ...] | None = None
        self.sort_keys: tuple | None = None  # computed on the first SORT_ROLE request

    def replace(self, item: AnnotatedListener) -> None:
        self.item = item
        self._display = None
        self.sort_keys = None

    @property
    def display(self) -> tuple[str, ...]:
        if self._display is None:
            self._display = _display_cells(self.item, self.first_seen)
        return self._display

    def compute_sort_keys(self) -> tuple:
        self.sort_keys = _sort_cells(self.item, self.first_seen)
        return self.sort_keys


def _display_cells(item: AnnotatedListener, first_seen: float) -> tuple[str, ...]:
    return (*(text(item) for text in _TEXT), _clock_text(first_seen))  # type: ignore[misc]


def _clock_text(moment: float) -> str:
    local = time.localtime(moment)
    if time.strftime("%Y%m%d", local) == time.strftime("%Y%m%d"):
        return time.strftime("%H:%M:%S", local)
    return time.strftime("%Y-%m-%d %H:%M", local)


def _sort_cells(item: AnnotatedListener, first_seen: float) -> tuple:
    return (*(sort(item) for sort in _SORT), first_seen)  # type: ignore[misc]


def _tooltip(item: AnnotatedListener, column: int) -> str:
    lines = _CELL_TIPS[column](item) if column < len(_CELL_TIPS) and _CELL_TIPS[column] else ()
    return plain_tooltip("\n".join(lines))


def _changed_columns(old: AnnotatedListener, new: AnnotatedListener) -> list[Column]:
    """Columns whose text, sort value or tooltip can differ between two versions of one row
    (the key columns, proto, address, port and PID, never change)."""
    parts = fields.changed_parts(old, new)
    return [column for column, depends in _DEPENDS if depends & parts]


class ListenerModel(QAbstractTableModel):
    """Listeners as table rows; `apply(PollResult)` updates them in place."""

    def __init__(self, parent: QObject | None = None, *,
                 highlight_seconds: float = HIGHLIGHT_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(parent)
        self._rows: list[_Row] = []
        self._index: dict[ListenerKey, int] = {}
        self._deadlines: dict[ListenerKey, float] = {}  # rows that are NEW or CLOSING
        self._closing = 0
        self._highlight = highlight_seconds
        self._clock = clock
        self._sweep = QTimer(self)
        self._sweep.setSingleShot(True)
        self._sweep.timeout.connect(self.expire_highlights)
        self._brushes: dict[RowState, QBrush] = {}
        bold, struck = QFont(), QFont()
        bold.setBold(True)
        struck.setStrikeOut(True)
        self._fonts = {RowState.NEW: bold, RowState.CLOSING: struck}
        self._highlight_fg = self._muted_fg = QBrush()
        self.set_dark(risk_style.dark_palette_in_use())

    def set_dark(self, dark: bool) -> None:
        """Row highlight and muted text colours for a dark (or light) palette."""
        new, closing, text = risk_style.ROW_COLORS[dark]
        self._brushes = {RowState.NEW: QBrush(QColor(new)),
                         RowState.CLOSING: QBrush(QColor(closing))}
        self._highlight_fg = QBrush(QColor(text))
        self._muted_fg = QBrush(QColor(risk_style.MUTED_COLORS[dark]))
        if self._rows:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._rows) - 1, _LAST_COLUMN),
                                  [_BACKGROUND, _FOREGROUND])

    # --- Qt model interface -------------------------------------------------------------
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else _COLUMN_COUNT

    def index(self, row: int, column: int,
              parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> QModelIndex:  # noqa: B008
        # Qt's own index() asks rowCount() and columnCount(): two Python calls instead of one,
        # for every comparison the sorting proxy makes.
        if 0 <= row < len(self._rows) and 0 <= column < _COLUMN_COUNT and not parent.isValid():
            return self.createIndex(row, column)
        return QModelIndex()

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = _DISPLAY) -> object:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section <= _LAST_COLUMN:
            return None
        if role == _DISPLAY:
            return _HEADER_TEXTS[section]  # by int: an enum lookup per call costs a frame's ms
        if role == _TOOLTIP:
            return _HEADER_TIP_TEXTS[section]
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = _DISPLAY) -> object:
        # The view asks each visible cell for seven roles every time it paints: the roles this
        # model never answers return first, and columns are compared as plain ints.
        if role in _NEVER or not index.isValid():
            return None
        row = self._rows[index.row()]
        if role == SORT_ROLE:  # the proxy asks this most (every comparison when sorting)
            keys = row.sort_keys
            if keys is None:
                keys = row.compute_sort_keys()
            return keys[index.column()]
        if role == _DISPLAY:
            return row.display[index.column()]
        state = row.state
        if role == _BACKGROUND:
            return None if state is _NORMAL else self._brushes.get(state)
        if role == _FONT:  # not by colour alone: new rows bold, closed ones struck out
            return None if state is _NORMAL else self._fonts.get(state)
        if role == _FOREGROUND:
            if state is not _NORMAL:
                return self._highlight_fg
            return self._muted(row.item, index.column())
        if role == _DECORATION:
            if index.column() == _RISK:
                assessment = row.item.assessment
                return risk_style.risk_icon(assessment.risk if assessment else None)
            return None
        if role == ROW_ROLE:
            return row.item
        if role == _TOOLTIP:
            return _tooltip(row.item, index.column())
        if role == _ALIGNMENT:
            return _RIGHT if index.column() in _RIGHT_COLUMNS else None
        if role == STATE_ROLE:
            return state
        return None

    def _muted(self, item: AnnotatedListener, column: int) -> QBrush | None:
        """The grey of a cell that says "nothing here" (no registration, no risk, notes
        about other software only), else None."""
        if column not in _MUTABLE_COLUMNS:
            return None
        if column == _SERVICE and item.entry is not None and not item.entry.registered:
            return self._muted_fg
        if column == _RISK and (item.assessment is None or item.assessment.risk is Risk.NONE):
            return self._muted_fg
        if column == _SECURITY and notes_are_context(item):
            return self._muted_fg
        return None

    def cell_style(self, row: int, column: int) -> tuple | None:
        """What a cell looks like, in one call (cell_delegate.py): (text, alignment, font,
        foreground, background, icon), each None for the view's default; the same values
        data() gives for those roles."""
        rows = self._rows
        if not 0 <= row < len(rows) or not 0 <= column < _COLUMN_COUNT:
            return None
        cells = rows[row]
        state = cells.state
        if state is _NORMAL:
            font = background = None
            foreground = self._muted(cells.item, column)
        else:
            font, background = self._fonts.get(state), self._brushes.get(state)
            foreground = self._highlight_fg
        icon = None
        if column == _RISK:
            assessment = cells.item.assessment
            icon = risk_style.risk_icon(assessment.risk if assessment else None)
        alignment = _RIGHT_FLAGS if column in _RIGHT_COLUMNS else None
        return cells.display[column], alignment, font, foreground, background, icon

    # --- lookups for views and proxies --------------------------------------------------
    def sort_key_at(self, row: int, column: int) -> object:
        """The native value `column` of `row` sorts by (what SORT_ROLE gives), without the
        index and data() calls (the proxy compares rows with it: filter_proxy.py)."""
        cells = self._rows[row]
        keys = cells.sort_keys
        if keys is None:
            keys = cells.compute_sort_keys()
        return keys[column]

    def item_at(self, row: int) -> AnnotatedListener:
        return self._rows[row].item

    def state_at(self, row: int) -> RowState:
        return self._rows[row].state

    def row_of(self, key: ListenerKey) -> int | None:
        return self._index.get(key)

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
        fresh: list[_Row] = []
        for item in (*changed, *opened):
            index = self._index.get(item.key)
            if index is None:
                state = RowState.NEW if highlight else RowState.NORMAL
                fresh.append(_Row(item, state, seen))
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
        if doomed:
            self._remove(doomed)
        self._schedule_sweep()

    def _replace(self, index: int, item: AnnotatedListener) -> None:
        row = self._rows[index]
        columns = _changed_columns(row.item, item)
        row.replace(item)  # cells are recomputed lazily, when a view or the proxy asks
        left, right = (columns[0], columns[-1]) if columns else (0, _LAST_COLUMN)
        self.dataChanged.emit(self.index(index, left), self.index(index, right))

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
        self.dataChanged.emit(self.index(index, 0), self.index(index, _LAST_COLUMN),
                              _HIGHLIGHT_ROLES)

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
        for low, high in runs:
            self.beginRemoveRows(QModelIndex(), low, high)
            for row in self._rows[low:high + 1]:
                del self._index[row.key]
                self._deadlines.pop(row.key, None)
                if row.state is RowState.CLOSING:
                    self._closing -= 1
            del self._rows[low:high + 1]
            self.endRemoveRows()
        first = runs[-1][0]
        rows = self._rows
        index = self._index
        for offset in range(first, len(rows)):
            index[rows[offset].key] = offset

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
        self._remove(doomed)
        self._schedule_sweep()

    def _schedule_sweep(self) -> None:
        if not self._deadlines:
            self._sweep.stop()
            return
        wait = min(self._deadlines.values()) - self._clock()
        self._sweep.start(max(int(wait * 1000) + 1, 0))

