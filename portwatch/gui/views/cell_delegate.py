"""Paint the listener table's cells from one Python call each instead of seven.

Qt's own delegate asks every visible cell for seven roles (display, decoration, font,
alignment, background, foreground, check state) on each repaint: a Python `data()` call per
role, about 3,000 per repaint of a full table. `ListenerDelegate.initStyleOption` fills the
style option from the table model's `cell_style()` (filter_proxy.py); the picture is the same
(a test compares the pixels), `data()` still answers every role for everyone else (tests,
accessibility, export).
"""

from __future__ import annotations

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QObject, QPersistentModelIndex
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QStyledItemDelegate, QStyleOptionViewItem

_HAS_DISPLAY = QStyleOptionViewItem.ViewItemFeature.HasDisplay
_HAS_DECORATION = QStyleOptionViewItem.ViewItemFeature.HasDecoration
_TEXT = QPalette.ColorRole.Text


class ListenerDelegate(QStyledItemDelegate):
    """For a QTableView showing `proxy` (filter_proxy.ListenerFilterProxy: any model with
    `cell_style(row, column)`)."""

    def __init__(self, proxy: QAbstractItemModel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._proxy = proxy

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
