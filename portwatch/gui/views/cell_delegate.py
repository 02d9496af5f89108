"""Paint the listener table's cells from one Python call each instead of seven, and paint
each cell once until it changes.

Qt's own delegate asks every visible cell for seven roles (display, decoration, font,
alignment, background, foreground, check state) on each repaint: a Python `data()` call per
role, about 3,000 per repaint of a full table. `ListenerDelegate.initStyleOption` fills the
style option from the table model's `cell_style()` (filter_proxy.py); `data()` still answers
every role for everyone else (tests, accessibility, export).

The style's painting of a cell (its text laid out and elided) is the dear part of a repaint:
≈ 8 ms for a 1200×800 table. So each cell is painted by the style once, into a pixmap with
the row background beneath it, kept under everything its picture depends on (the model's
`cell_key()`: the cell's text, column, highlight and greying, the colours; the cell's size,
state and alternate-row background; equal cells of different rows share a picture) and
copied on the next repaints; a change of the view's palette, font, style or pixel ratio
empties the cache; the cell with the keyboard focus is painted directly (the focus frame).
The window's view (row_pictures.py) calls this delegate only to make the picture of a row
that changed. The pixels are the same (a test compares them with Qt's own delegate's).
"""

from __future__ import annotations

from PySide6.QtCore import (
    QAbstractItemModel,
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPoint,
    QRect,
)
from PySide6.QtGui import QPainter, QPalette, QPixmap
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem, QWidget

_HAS_DISPLAY = QStyleOptionViewItem.ViewItemFeature.HasDisplay
_HAS_DECORATION = QStyleOptionViewItem.ViewItemFeature.HasDecoration
_ALTERNATE = QStyleOptionViewItem.ViewItemFeature.Alternate
_HAS_FOCUS = QStyle.StateFlag.State_HasFocus
_ACTIVE = QStyle.StateFlag.State_Active
_TEXT = QPalette.ColorRole.Text
_BASE = QPalette.ColorRole.Base
_ROW = QStyle.PrimitiveElement.PE_PanelItemViewRow
_ITEM = QStyle.ControlElement.CE_ItemViewItem
CACHED_CELLS = 800  # at most; ≈ a 1200×800 screen of cells in both row colours (≈ 7 MB)
# What changes every cell's picture without changing the cell: then the cache starts again
_RESTYLE = frozenset({QEvent.Type.PaletteChange, QEvent.Type.FontChange, QEvent.Type.StyleChange,
                      QEvent.Type.DevicePixelRatioChange, QEvent.Type.ScreenChangeInternal,
                      QEvent.Type.ApplicationPaletteChange, QEvent.Type.ApplicationFontChange,
                      QEvent.Type.LayoutDirectionChange})


class ListenerDelegate(QStyledItemDelegate):
    """For a QTableView showing `proxy` (filter_proxy.ListenerFilterProxy: any model with
    `cell_style(row, column)`)."""

    def __init__(self, proxy: QAbstractItemModel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._proxy = proxy
        # Painted cells in two generations (a cheap least-recently-used): those copied since
        # the last turnover, and those before it, dropped at the next turnover unless copied
        self._painted: dict[tuple, QPixmap] = {}
        self._older: dict[tuple, QPixmap] = {}
        self._watching = False

    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:
        # A handful of Python calls per cell: the colours, font, style and pixel ratio are not
        # in the key, the cache is emptied when they change (eventFilter)
        state = option.state
        cell = None if state & _HAS_FOCUS else self._proxy.cell_key(index.row(), index.column())
        if cell is None or option.widget is None:
            super().paint(painter, option, index)
            return
        rect = option.rect
        key = (cell, rect.width(), rect.height(), state.value, option.features & _ALTERNATE)
        painted = self._painted.get(key)
        if painted is None:
            painted = self._older.pop(key, None)  # used before the last turnover: kept
            if painted is None:
                if not self._watching:
                    self._watch(option.widget)
                painted = self._paint_cell(option, index, option.widget,
                                           painter.device().devicePixelRatio())
            if len(self._painted) >= CACHED_CELLS // 2:  # what was not used since goes
                self._older, self._painted = self._painted, {}
            self._painted[key] = painted
        painter.drawPixmap(rect.topLeft(), painted)

    def _watch(self, widget: QWidget) -> None:
        self._watching = True
        for watched in (widget, getattr(widget, "viewport", lambda: widget)()):
            watched.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() in _RESTYLE:
            self._painted, self._older = {}, {}
        return False

    def _paint_cell(self, option: QStyleOptionViewItem,
                    index: QModelIndex | QPersistentModelIndex, widget: QWidget,
                    ratio: float) -> QPixmap:
        """The cell as the view and the style paint it: the viewport's background, the row's
        (alternate) background, then the item."""
        cell = QStyleOptionViewItem(option)
        self.initStyleOption(cell, index)
        cell.rect = QRect(QPoint(0, 0), option.rect.size())
        pixmap = QPixmap(option.rect.size() * ratio)
        pixmap.setDevicePixelRatio(ratio)
        viewport = getattr(widget, "viewport", lambda: widget)()
        group = QPalette.ColorGroup.Active if option.state & _ACTIVE \
            else QPalette.ColorGroup.Inactive
        painter = QPainter(pixmap)
        painter.fillRect(cell.rect, viewport.palette().brush(group, _BASE))
        style = widget.style()
        style.drawPrimitive(_ROW, cell, painter, widget)
        style.drawControl(_ITEM, cell, painter, widget)
        painter.end()
        return pixmap

    def initStyleOption(self, option: QStyleOptionViewItem,
                        index: QModelIndex | QPersistentModelIndex) -> None:
        style = self._proxy.cell_style(index.row(), index.column())
        if style is None:
            super().initStyleOption(option, index)
            return
        text, alignment, font, foreground, background, icon = style
        option.index = index
        if font is not None:
            option.font = font.resolve(option.font)
            option.fontMetrics = type(option.fontMetrics)(option.font)
        if alignment is not None:
            option.displayAlignment = alignment
        if foreground is not None:
            palette = QPalette(option.palette)
            palette.setBrush(_TEXT, foreground)
            option.palette = palette
        if icon is not None:
            option.features |= _HAS_DECORATION
            option.icon = icon
            option.decorationSize = icon.actualSize(option.decorationSize)
        option.features |= _HAS_DISPLAY
        option.text = text
        if background is not None:
            option.backgroundBrush = background
