"""Show text from other programs as text, never as markup: tooltips, labels and HTML pieces.

Qt guesses that a string is rich text when it looks like HTML (a process named `<b>x</b>`),
so every tooltip goes through `plain_tooltip()` (escaped, in a white-space preserving
paragraph), every label through `plain_label()` (Qt.PlainText), and every HTML view is built
from `esc()` pieces. `visible()` first turns control and bidi characters into escapes.
`muted()` gives a label of portwatch's own words the palette's secondary text colour.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QLabel, QWidget

from portwatch.core.text import visible

TOOLTIP_WIDTH_CHARS = 100


def esc(text: object, limit: int | None = None) -> str:
    """`text` made visible and escaped for an HTML view (quotes too, for attributes)."""
    return html.escape(visible(str(text) if text is not None else "", limit), quote=True)


def plain_tooltip(text: str) -> str:
    """A tooltip showing `text` literally; line breaks are kept and long lines wrap.

    `text` may hold newlines between lines; each line should already have passed visible()."""
    if not text:
        return ""
    lines = [html.escape(line, quote=False) for line in text.split("\n")]
    return "<p style='white-space:pre-wrap'>" + "<br>".join(lines) + "</p>"


def plain_label(text: str = "", parent: QWidget | None = None) -> QLabel:
    """A QLabel that always shows its text literally."""
    label = QLabel(parent)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setText(text)
    return label


def muted(label: QLabel) -> QLabel:
    """A wrapped label in the palette's secondary text colour (readable, unlike disabled)."""
    label.setWordWrap(True)
    palette = label.palette()
    palette.setColor(QPalette.ColorRole.WindowText,
                     palette.color(QPalette.ColorRole.PlaceholderText))
    label.setPalette(palette)
    return label
