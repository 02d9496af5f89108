"""The listener table's view: it paints each visible row by copying one picture of the row,
made once and kept until something it shows changes.

A poll that inserts or removes a row makes Qt repaint the whole viewport, and QTableView
paints it cell by cell: a Python call to the delegate for each of ≈ 350 visible cells, ≈ 5 ms
even when every cell is a copy (cell_delegate.py), most of a 60 Hz frame for rows that did
not change. `RowPictureTable.paintEvent` instead copies one picture per visible row (≈ 35
`drawPixmap` calls, ≈ 0.3 ms). A picture is made exactly as QTableView paints the row's
cells (QTableViewPrivate::drawCell: the row panel, then the delegate, with the same style
option) into a pixmap filled with the viewport's background, and kept under everything it
depends on: the row's content and highlight (the model's `row_key()`), its height,
alternate colour and selected cells, and, for the whole view, the columns' order, positions
and widths, the viewport's width, the style option and pixel ratio (a change there drops
every picture). So a poll costs a picture only for the rows it changed or moved into view
(`pictures_made` counts them), and the pixels are Qt's own (tests/gui/test_cell_delegate.py
compares them).

Qt paints the view itself whenever a picture could not be the same as its painting: another
delegate, a grid, spans, moved or hidden rows, right-to-left, a drag in progress. And Qt
paints the row with the keyboard focus (its focus frame is blended: in a picture a shade
differs) and, when the style draws hover, the row it last saw hovered and the row under the
mouse.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QPersistentModelIndex, QRect, Qt
from PySide6.QtGui import QCursor, QPainter, QPaintEvent, QPalette, QPixmap, QRegion
from PySide6.QtWidgets import (
    QAbstractItemView,
    QStyle,
    QStyleOptionViewItem,
    QTableView,
    QWidget,
)

from portwatch.gui.views.cell_delegate import ListenerDelegate

_ALTERNATE = QStyleOptionViewItem.ViewItemFeature.Alternate
_SELECTED = QStyle.StateFlag.State_Selected
_ENABLED = QStyle.StateFlag.State_Enabled
_ROW_PANEL = QStyle.PrimitiveElement.PE_PanelItemViewRow
_NORMAL = QPalette.ColorGroup.Normal
_DISABLED = QPalette.ColorGroup.Disabled
_ITEM_ENABLED = Qt.ItemFlag.ItemIsEnabled
_HOVER_TRACKED = frozenset({QEvent.Type.HoverMove, QEvent.Type.HoverEnter})
_HOVER_ENDED = frozenset({QEvent.Type.HoverLeave, QEvent.Type.Leave})
_RESTYLE = frozenset({QEvent.Type.PaletteChange, QEvent.Type.FontChange,
                      QEvent.Type.StyleChange, QEvent.Type.LayoutDirectionChange})


class RowPictureTable(QTableView):
    """A QTableView for a model with `row_key(row)` (filter_proxy.ListenerFilterProxy) and a
    ListenerDelegate; with anything else it is a plain QTableView."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # Pictures in two generations (a cheap least-recently-used, as the delegate's cells):
        # at most two screenfuls of rows in both colours, ≈ 15 MB for a 1200×800 table
        self._pictures: dict[tuple, QPixmap] = {}
        self._older: dict[tuple, QPixmap] = {}
        self._view_key: tuple | None = None  # what every picture depends on
        self._hover = QPersistentModelIndex()  # the index Qt last saw under the mouse
        self._spans = False
        self.pictures_made = 0  # rows painted cell by cell into a picture (tests count them)

    # --- what Qt must paint itself ------------------------------------------------------
    def setSpan(self, row: int, column: int, row_span: int, column_span: int) -> None:
        self._spans = True
        super().setSpan(row, column, row_span, column_span)

    def viewportEvent(self, event: QEvent) -> bool:
        kind = event.type()
        if kind in _HOVER_TRACKED:  # as QAbstractItemView::viewportEvent sets its hover index
            self._hover = QPersistentModelIndex(self.indexAt(event.position().toPoint()))
        elif kind in _HOVER_ENDED:
            self._hover = QPersistentModelIndex()
        return super().viewportEvent(event)

    def changeEvent(self, event: QEvent) -> None:
        if event.type() in _RESTYLE:
            self.forget_pictures()
        super().changeEvent(event)

    def forget_pictures(self) -> None:
        self._pictures, self._older = {}, {}

    def _delegate(self) -> ListenerDelegate | None:
        delegate = self.itemDelegate()
        model = self.model()
        if not isinstance(delegate, ListenerDelegate) or not hasattr(model, "row_key") \
                or self.showGrid() or self._spans or self.isRightToLeft() \
                or self.state() == QAbstractItemView.State.DraggingState:
            return None
        rows = self.verticalHeader()
        if rows.sectionsHidden() or rows.sectionsMoved():
            return None
        return delegate

    def _rows_qt_paints(self) -> set[int]:
        """Rows whose look Qt alone decides: the one with the keyboard focus (its focus frame
        is blended, and its pixels would differ by a shade in a picture) and, when the style
        draws hover, the row Qt last saw hovered and the one under the mouse now."""
        viewport = self.viewport()
        rows: set[int] = set()
        current = self.currentIndex()
        if current.isValid() and (self.hasFocus() or viewport.hasFocus()):
            rows.add(current.row())
        if viewport.testAttribute(Qt.WidgetAttribute.WA_Hover):
            if self._hover.isValid():
                rows.add(self._hover.row())
            if viewport.underMouse():
                rows.add(self.rowAt(viewport.mapFromGlobal(QCursor.pos()).y()))
        return rows

    # --- painting -----------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:
        delegate = self._delegate()
        header, rows = self.horizontalHeader(), self.verticalHeader()
        if delegate is None or header.count() == 0 or rows.count() == 0:
            super().paintEvent(event)
            return
        option = QStyleOptionViewItem()
        self.initViewItemOption(option)
        columns = self._columns(delegate)
        if columns is None:
            super().paintEvent(event)
            return
        viewport = self.viewport()
        ratio = viewport.devicePixelRatio()
        view_key = (columns, viewport.width(), option.state.value, option.features.value,
                    option.textElideMode, option.decorationSize.toTuple(),
                    option.palette.cacheKey(), viewport.palette().cacheKey(), option.font.key(),
                    self.style(), self.alternatingRowColors(), ratio)
        if view_key != self._view_key:
            self._view_key = view_key
            self.forget_pictures()
        shown = self._rows_in(event.region(), header, rows)
        by_qt = self._rows_qt_paints().intersection(shown)
        if by_qt:
            region = QRegion()
            for row in by_qt:
                region += QRect(0, rows.sectionViewportPosition(row), viewport.width(),
                                rows.sectionSize(row))
            super().paintEvent(QPaintEvent(region & event.region()))
        selected = self._selected_ranges()
        row_key = self.model().row_key
        alternate = self.alternatingRowColors()
        pictures = self._pictures
        # a screenful of rows in both row colours per generation (the older one is kept too)
        kept = 2 * (viewport.height() // max(rows.defaultSectionSize(), 1) + 2)
        position, size = rows.sectionViewportPosition, rows.sectionSize
        painter = QPainter(viewport)
        for row in shown:
            if row in by_qt:
                continue
            height = size(row)
            marked = tuple(column for column, _x, _w in columns
                           if any(top <= row <= bottom and left <= column <= right
                                  for top, bottom, left, right in selected)) if selected else ()
            key = (row_key(row), height, alternate and row & 1, marked)
            picture = pictures.get(key)
            if picture is None:
                picture = self._older.pop(key, None)
                if picture is None:
                    picture = self._picture(row, height, key, option, columns, delegate, ratio)
                if len(pictures) >= kept:
                    self._older, pictures = pictures, {}
                    self._pictures = pictures
                pictures[key] = picture
            painter.drawPixmap(0, position(row), picture)
        painter.end()

    def _columns(self, delegate: ListenerDelegate) -> tuple | None:
        """(logical column, x, width) of each shown column in view, left to right; None when
        a column has a delegate of its own."""
        header = self.horizontalHeader()
        first = max(header.visualIndexAt(0), 0)
        last = header.visualIndexAt(header.width())
        if last < 0:
            last = header.count() - 1
        found = []
        for visual in range(first, last + 1):
            column = header.logicalIndex(visual)
            if header.isSectionHidden(column):
                continue
            if self.itemDelegateForColumn(column) is not None:
                return None
            found.append((column, header.sectionViewportPosition(column),
                          header.sectionSize(column)))
        return tuple(found)

    @staticmethod
    def _rows_in(region: QRegion, header, rows) -> list[int]:
        """The rows QTableView would paint for `region`, in order."""
        right = header.length() - header.offset() - 1
        lowest = rows.length() - rows.offset() - 1
        count = rows.count()
        found: set[int] = set()
        for rect in region:
            bottom = min(rect.bottom(), lowest)
            if rect.left() > right or rect.top() > bottom:
                continue
            top = rows.visualIndexAt(rect.top())
            last = rows.visualIndexAt(bottom)
            if top < 0:
                continue
            found.update(range(top, (last if last >= 0 else count - 1) + 1))
        return sorted(found)

    def _selected_ranges(self) -> list[tuple[int, int, int, int]]:
        selection = self.selectionModel()
        if selection is None or not selection.hasSelection():
            return []
        return [(part.top(), part.bottom(), part.left(), part.right())
                for part in selection.selection()]

    def _picture(self, row: int, height: int, key: tuple, option: QStyleOptionViewItem,
                 columns: tuple, delegate: ListenerDelegate, ratio: float) -> QPixmap:
        """The row as QTableView paints it (QTableViewPrivate::drawCell for each cell) on
        the viewport's background."""
        self.pictures_made += 1
        viewport = self.viewport()
        width = viewport.width()
        picture = QPixmap(QRect(0, 0, width, height).size() * ratio)
        picture.setDevicePixelRatio(ratio)
        painter = QPainter(picture)
        painter.fillRect(QRect(0, 0, width, height),
                         viewport.palette().brush(viewport.backgroundRole()))
        _row_key, _height, alternate, marked = key
        model, style = self.model(), self.style()
        for column, x, column_width in columns:
            cell = QStyleOptionViewItem(option)
            cell.rect = QRect(x, 0, column_width, height)
            if self.alternatingRowColors():
                if alternate:
                    cell.features |= _ALTERNATE
                else:
                    cell.features &= ~_ALTERNATE
            index = model.index(row, column)
            if column in marked:
                cell.state |= _SELECTED
            if option.state & _ENABLED:
                palette = QPalette(cell.palette)
                if model.flags(index) & _ITEM_ENABLED:
                    palette.setCurrentColorGroup(_NORMAL)
                else:
                    cell.state &= ~_ENABLED
                    palette.setCurrentColorGroup(_DISABLED)
                cell.palette = palette
            style.drawPrimitive(_ROW_PANEL, cell, painter, self)
            delegate.paint(painter, cell, index)
        painter.end()
        return picture

