"""A row of widgets that, when the row is too narrow for all of them, takes the room from them
in a set order: the status bar's parts (status.py) give way one after another, each down to its
minimum size hint (an ElidedLabel's first `min_chars` characters and "…"), instead of all at
once as a QHBoxLayout does (it shared the shortage out equally and cut the short counts as
well as the long problem message).

`add(widget, give_way=n, stretch=s)`: the widget with the lowest `give_way` number shrinks
first; one without a number shrinks only when every numbered one is at its minimum. Room to
spare goes to the widgets with a stretch (or to all, when none shown has one). Hidden widgets
take no room. Right-to-left layouts are mirrored.
"""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRect, QSize
from PySide6.QtWidgets import QLayout, QLayoutItem, QStyle, QWidget

_NEVER = 1 << 30  # gives way only after every numbered widget


class GiveWayRow(QLayout):
    """A horizontal layout whose widgets give way in order when room is short."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._items: list[QLayoutItem] = []
        self._order: dict[QWidget, tuple[int, int]] = {}  # widget -> (give_way, stretch)

    def add(self, widget: QWidget, give_way: int | None = None, stretch: int = 0) -> None:
        self._order[widget] = (_NEVER if give_way is None else give_way, stretch)
        self.addWidget(widget)  # QLayout calls addItem with the widget's item

    # QLayout's interface
    def addItem(self, item: QLayoutItem) -> None:
        self._items.append(item)
        self.invalidate()

    def count(self) -> int:
        return len(self._items)

    def itemAt(self, index: int) -> QLayoutItem | None:
        return self._items[index] if 0 <= index < len(self._items) else None

    def takeAt(self, index: int) -> QLayoutItem | None:
        if not 0 <= index < len(self._items):
            return None
        item = self._items.pop(index)
        self._order.pop(item.widget(), None)
        self.invalidate()
        return item

    def sizeHint(self) -> QSize:
        return self._total([item.sizeHint() for item in self._shown()])

    def minimumSize(self) -> QSize:
        return self._total([item.minimumSize() for item in self._shown()])

    def setGeometry(self, rect: QRect) -> None:
        super().setGeometry(rect)
        items = self._shown()
        if not items:
            return
        inner = rect.marginsRemoved(self.contentsMargins())
        widths = self.widths(items, inner.width() - self.spacing() * (len(items) - 1))
        parent = self.parentWidget()
        direction = parent.layoutDirection() if parent is not None else None
        x = inner.left()
        for item, width in zip(items, widths, strict=True):
            place = QRect(QPoint(x, inner.top()), QSize(width, inner.height()))
            if direction is not None:
                place = QStyle.visualRect(direction, inner, place)
            item.setGeometry(place)
            x += width + self.spacing()

    def widths(self, items: list[QLayoutItem], room: int) -> list[int]:
        """Each item's width in `room` pixels: its size hint, less what it gives way (in
        order, down to its minimum) when room is short, plus its share of room to spare."""
        widths = [item.sizeHint().width() for item in items]
        short = sum(widths) - room
        if short > 0:
            order = sorted(range(len(items)), key=lambda i: self._rank(items[i])[0])
            for i in order:
                cut = min(short, widths[i] - items[i].minimumSize().width())
                if cut > 0:
                    widths[i] -= cut
                    short -= cut
            return widths
        stretches = [self._rank(item)[1] for item in items]
        if not any(stretches):
            stretches = [1] * len(items)
        spare, total = -short, sum(stretches)
        given = 0
        for i, stretch in enumerate(stretches):
            share = spare * stretch // total
            widths[i] += share
            given += share
        last = max(i for i, stretch in enumerate(stretches) if stretch)
        widths[last] += spare - given  # what integer division left over
        return widths

    def _rank(self, item: QLayoutItem) -> tuple[int, int]:
        return self._order.get(item.widget(), (_NEVER, 0))

    def _shown(self) -> list[QLayoutItem]:
        return [item for item in self._items if not item.isEmpty()]

    def _total(self, sizes: list[QSize]) -> QSize:
        margins = self.contentsMargins()
        width = sum(size.width() for size in sizes) + self.spacing() * max(0, len(sizes) - 1)
        height = max((size.height() for size in sizes), default=0)
        return QSize(width + margins.left() + margins.right(),
                     height + margins.top() + margins.bottom())
