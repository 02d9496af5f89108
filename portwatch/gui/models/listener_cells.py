"""What the listener table's cells say and look like: columns, roles, rows and their cells.

One `Row` per listener, shared by the store (listener_model.py) and the sorted, filtered table
(filter_proxy.py): it keeps the listener, its highlight state, its First seen, and caches its
display texts and sort values (made once per version of the row, never per paint). `CellLook`
answers every role of a cell from a Row (`data`) and the whole look of a cell in one call
(`style`, for cell_delegate.py); both models answer data() through it, so they cannot disagree.
"""

from __future__ import annotations

import enum
import itertools
import time

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QFont

from portwatch.core import fields
from portwatch.core.fields.catalog_facts import notes_are_context
from portwatch.core.model import AnnotatedListener, Risk
from portwatch.gui.style import risk_style
from portwatch.gui.style.plain import plain_tooltip

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

DISPLAY = int(Qt.ItemDataRole.DisplayRole)
TOOLTIP = int(Qt.ItemDataRole.ToolTipRole)
BACKGROUND = int(Qt.ItemDataRole.BackgroundRole)
FOREGROUND = int(Qt.ItemDataRole.ForegroundRole)
FONT = int(Qt.ItemDataRole.FontRole)
_DECORATION = int(Qt.ItemDataRole.DecorationRole)
_ALIGNMENT = int(Qt.ItemDataRole.TextAlignmentRole)
COLUMN_COUNT = len(Column)
LAST_COLUMN = COLUMN_COUNT - 1
_RIGHT_FLAGS = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
_RIGHT = int(_RIGHT_FLAGS)
# Roles a view asks for that these models never answer (CheckState, SizeHint, …)
NEVER = frozenset(int(r) for r in (Qt.ItemDataRole.CheckStateRole, Qt.ItemDataRole.SizeHintRole,
                                   Qt.ItemDataRole.StatusTipRole, Qt.ItemDataRole.WhatsThisRole,
                                   Qt.ItemDataRole.EditRole))
HIGHLIGHT_ROLES = [BACKGROUND, FOREGROUND, FONT, STATE_ROLE]
HEADER_TEXTS = tuple(HEADERS[column] for column in Column)
HEADER_TIP_TEXTS = tuple(HEADER_TIPS.get(column) for column in Column)


class RowState(enum.Enum):
    NORMAL = "normal"
    NEW = "new"  # appeared in the last highlight_seconds (green)
    CLOSING = "closing"  # closed; removed after highlight_seconds (red)


_TEXT = tuple(field.text for field in fields.TABLE)
_SORT = tuple(field.sort for field in fields.TABLE)
_CELL_TIPS = tuple(field.cell_tip for field in fields.TABLE)
_RIGHT_COLUMNS = frozenset(number for number, field in enumerate(fields.TABLE) if field.right)
_DEPENDS = tuple((Column(number), field.depends) for number, field in enumerate(fields.TABLE))
# Plain values for the hot paths (IntEnum comparisons and lookups cost more than ints)
_NORMAL = RowState.NORMAL
_RISK, _SERVICE, _SECURITY = int(Column.RISK), int(Column.SERVICE), int(Column.SECURITY)
_MUTABLE_COLUMNS = frozenset({_RISK, _SERVICE, _SECURITY})  # those that may be greyed
_serials = itertools.count()
_UNSET = object()


class Row:
    """One table row: the listener, its highlight state and its cells, computed once per
    version of the listener. `serial` orders rows that sort equal (the older first)."""

    __slots__ = ("_display", "_sort", "first_seen", "item", "key", "serial", "state", "version")

    def __init__(self, item: AnnotatedListener, state: RowState, first_seen: float) -> None:
        self.item = item
        self.key = item.key  # never changes for a row (building it is not free)
        self.state = state
        self.first_seen = first_seen
        self.serial = next(_serials)
        self.version = 0  # one more each time the listener changes (cell_delegate.py's cache)
        self._display: tuple[str, ...] | None = None
        self._sort: list | None = None  # per column, made when first asked (one is sorted by)

    def replace(self, item: AnnotatedListener) -> None:
        self.item = item
        self.version += 1
        self._display = None
        self._sort = None

    @property
    def display(self) -> tuple[str, ...]:
        if self._display is None:
            self._display = (*(text(self.item) for text in _TEXT),  # type: ignore[misc]
                             _clock_text(self.first_seen))
        return self._display

    def sort_value(self, column: int) -> object:
        """The native value the row sorts by in `column` (numbers as numbers)."""
        values = self._sort
        if values is None:
            values = self._sort = [_UNSET] * COLUMN_COUNT
        value = values[column]
        if value is _UNSET:
            sort = _SORT[column] if column < len(_SORT) else None
            value = values[column] = sort(self.item) if sort else self.first_seen  # type: ignore[misc]
        return value


def _clock_text(moment: float) -> str:
    local = time.localtime(moment)
    if time.strftime("%Y%m%d", local) == time.strftime("%Y%m%d"):
        return time.strftime("%H:%M:%S", local)
    return time.strftime("%Y-%m-%d %H:%M", local)


def _tooltip(item: AnnotatedListener, column: int) -> str:
    lines = _CELL_TIPS[column](item) if column < len(_CELL_TIPS) and _CELL_TIPS[column] else ()
    return plain_tooltip("\n".join(lines))


def changed_columns(old: AnnotatedListener, new: AnnotatedListener) -> list[Column]:
    """Columns whose text, sort value or tooltip can differ between two versions of one row
    (the key columns, proto, address, port and PID, never change)."""
    parts = fields.changed_parts(old, new)
    return [column for column, depends in _DEPENDS if depends & parts]


def header_data(section: int, orientation: Qt.Orientation, role: int) -> object:
    if orientation != Qt.Orientation.Horizontal or not 0 <= section <= LAST_COLUMN:
        return None
    if role == DISPLAY:
        return HEADER_TEXTS[section]  # by int: an enum lookup per call costs a frame's ms
    if role == TOOLTIP:
        return HEADER_TIP_TEXTS[section]
    return None


class CellLook:
    """Brushes and fonts of highlighted and muted cells (light or dark palette), and the
    value of any role of any cell."""

    def __init__(self, dark: bool) -> None:
        bold, struck = QFont(), QFont()
        bold.setBold(True)
        struck.setStrikeOut(True)
        self.fonts = {RowState.NEW: bold, RowState.CLOSING: struck}
        self.generation = 0  # one more each time the colours change (cell_delegate.py's cache)
        self.set_dark(dark)

    def set_dark(self, dark: bool) -> None:
        self.generation += 1
        new, closing, text = risk_style.ROW_COLORS[dark]
        self.brushes = {RowState.NEW: QBrush(QColor(new)),
                        RowState.CLOSING: QBrush(QColor(closing))}
        self.highlight_fg = QBrush(QColor(text))
        self.muted_fg = QBrush(QColor(risk_style.MUTED_COLORS[dark]))

    def data(self, row: Row, column: int, role: int) -> object:
        # The view asks each visible cell for seven roles every time it paints: columns are
        # compared as plain ints, the commonest roles first.
        if role == SORT_ROLE:
            return row.sort_value(column)
        if role == DISPLAY:
            return row.display[column]
        state = row.state
        if role == BACKGROUND:
            return None if state is _NORMAL else self.brushes.get(state)
        if role == FONT:  # not by colour alone: new rows bold, closed ones struck out
            return None if state is _NORMAL else self.fonts.get(state)
        if role == FOREGROUND:
            if state is not _NORMAL:
                return self.highlight_fg
            return self.muted(row.item, column)
        if role == _DECORATION:
            if column == _RISK:
                assessment = row.item.assessment
                return risk_style.risk_icon(assessment.risk if assessment else None)
            return None
        if role == ROW_ROLE:
            return row.item
        if role == TOOLTIP:
            return _tooltip(row.item, column)
        if role == _ALIGNMENT:
            return _RIGHT if column in _RIGHT_COLUMNS else None
        if role == STATE_ROLE:
            return state
        return None

    def muted(self, item: AnnotatedListener, column: int) -> QBrush | None:
        """The grey of a cell that says "nothing here" (no registration, no risk, notes
        about other software only), else None."""
        if column not in _MUTABLE_COLUMNS:
            return None
        if column == _SERVICE and item.entry is not None and not item.entry.registered:
            return self.muted_fg
        if column == _RISK and (item.assessment is None or item.assessment.risk is Risk.NONE):
            return self.muted_fg
        if column == _SECURITY and notes_are_context(item):
            return self.muted_fg
        return None

    def picture_key(self, row: Row, column: int) -> tuple:
        """What decides a cell's picture, as plain values: the same key, the same `style()`
        (cell_delegate.py's cache): its text, column (alignment, risk icon), highlight,
        greying, risk and the colours. Not the row itself: equal cells of other rows (the
        protocol, the address, a changed row's other cells) share one picture."""
        state = row.state
        muted = state is _NORMAL and column in _MUTABLE_COLUMNS \
            and self.muted(row.item, column) is not None
        risk = None
        if column == _RISK:
            assessment = row.item.assessment
            risk = assessment.risk if assessment else None
        return column, row.display[column], state, muted, risk, self.generation

    def style(self, row: Row, column: int) -> tuple:
        """What a cell looks like, in one call (cell_delegate.py): (text, alignment, font,
        foreground, background, icon), each None for the view's default; the same values
        data() gives for those roles."""
        state = row.state
        if state is _NORMAL:
            font = background = None
            foreground = self.muted(row.item, column)
        else:
            font, background = self.fonts.get(state), self.brushes.get(state)
            foreground = self.highlight_fg
        icon = None
        if column == _RISK:
            assessment = row.item.assessment
            icon = risk_style.risk_icon(assessment.risk if assessment else None)
        alignment = _RIGHT_FLAGS if column in _RIGHT_COLUMNS else None
        return row.display[column], alignment, font, foreground, background, icon
