"""A one-line label that ends in "…" when its place is narrower than its text, instead of
being cut at the edge: the status bar's parts share one line of a window that may be 1280 px
wide or less.

`text()` stays the whole text (so the accessibility tree and tests read all of it); only the
painting is shortened, and `shown_text()` says what is painted. The caller puts the whole text
in the tooltip. The label asks for its whole width and can shrink to its first `min_chars`
characters.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QPainter, QPaintEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget


class ElidedLabel(QLabel):
    """`min_chars`: the narrowest it gets, this many characters and "…" (a short text whole)."""

    def __init__(self, text: str = "", parent: QWidget | None = None,
                 min_chars: int = 12) -> None:
        super().__init__(parent)
        self.min_chars = min_chars
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.setText(text)

    def shown_text(self) -> str:
        """The text as painted: whole, or shortened with "…" to the label's width."""
        return self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight,
                                             self.contentsRect().width() - 2 * self.margin())

    def minimumSizeHint(self) -> QSize:
        hint = super().minimumSizeHint()
        text = self.text()
        if len(text) <= self.min_chars:
            return QSize(max(hint.width(), self.sizeHint().width()), hint.height())  # whole
        short = text[:self.min_chars] + "…"
        margins = self.contentsMargins()
        width = (self.fontMetrics().horizontalAdvance(short) + margins.left() + margins.right()
                 + 2 * self.margin())
        return QSize(min(hint.width(), width), hint.height())

    def paintEvent(self, event: QPaintEvent) -> None:
        shown = self.shown_text()
        if shown == self.text():
            super().paintEvent(event)
            return
        painter = QPainter(self)
        rect = self.contentsRect().adjusted(self.margin(), self.margin(), -self.margin(),
                                            -self.margin())
        self.style().drawItemText(painter, rect, int(self.alignment()), self.palette(),
                                  self.isEnabled(), shown, self.foregroundRole())
        painter.end()
