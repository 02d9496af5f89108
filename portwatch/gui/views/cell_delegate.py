"""Paint the listener table's cells from one Python call each instead of seven.

Qt's own delegate asks every visible cell for seven roles (display, decoration, font,
alignment, background, foreground, check state) on each repaint, each through the sorting
proxy: a Python `index()` and a Python `data()` call per role, about 4,000 per repaint of a
full table. `ListenerDelegate.initStyleOption` maps the cell to the model once and fills the
style option from `ListenerModel.cell_style()`; the picture is the same (a test compares the
pixels), `data()` still answers every role for everyone else (tests, accessibility, export).
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QObject, QPersistentModelIndex, QSortFilterProxyModel
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QStyledItemDelegate, QStyleOptionViewItem

_HAS_DISPLAY = QStyleOptionViewItem.ViewItemFeature.HasDisplay
_HAS_DECORATION = QStyleOptionViewItem.ViewItemFeature.HasDecoration
_TEXT = QPalette.ColorRole.Text


class ListenerDelegate(QStyledItemDelegate):
    """For a QTableView showing `proxy` (a sort/filter proxy of a ListenerModel)."""

    def __init__(self, proxy: QSortFilterProxyModel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._proxy = proxy

    def initStyleOption(self, option: QStyleOptionViewItem,
                        index: QModelIndex | QPersistentModelIndex) -> None:
        source = self._proxy.mapToSource(index)
        model = self._proxy.sourceModel()
        style = model.cell_style(source.row(), source.column()) if source.isValid() else None
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
