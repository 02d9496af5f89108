"""How risk and row states look: labels, colours and the small round risk icons.

One place decides the colours so the table, the details pane and the status bar agree.
Icons are painted once per risk (after the QGuiApplication exists) and reused.
"""

from __future__ import annotations

import functools

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPen, QPixmap

from portwatch.core.model import Risk, Severity

UNKNOWN_RISK_LABEL = "?"

# Fills readable on light and dark palettes; the icon carries the colour, the text the word.
RISK_COLORS = {
    Risk.HIGH: "#d32f2f",
    Risk.MEDIUM: "#f57c00",
    Risk.LOW: "#fbc02d",
    Risk.NONE: "#9e9e9e",
}
# Text in the risk's colour needs more contrast than a filled dot: low is a darker yellow.
RISK_TEXT_COLORS = {**RISK_COLORS, Risk.LOW: "#b08000", Risk.NONE: "#757575"}
SEVERITY_COLORS = {
    Severity.HIGH: RISK_COLORS[Risk.HIGH],
    Severity.MEDIUM: RISK_COLORS[Risk.MEDIUM],
    Severity.LOW: "#c49000",  # darker yellow: it colours text, not a fill
    Severity.INFO: "#607d8b",
}

# TCPView-style row highlights: new rows green, closing rows red (with dark text on both).
NEW_ROW_BACKGROUND = "#c8f7c5"
CLOSING_ROW_BACKGROUND = "#f9c0c0"
HIGHLIGHT_FOREGROUND = "#000000"
MUTED_FOREGROUND = "#808080"


def risk_label(risk: Risk | None) -> str:
    return risk.label if risk is not None else UNKNOWN_RISK_LABEL


@functools.cache
def risk_icon(risk: Risk | None, size: int = 14) -> QIcon:
    """A filled circle in the risk's colour (an outlined grey ring for no risk or unknown)."""
    pixmap = QPixmap(size * 2, size * 2)  # drawn at 2x: crisp on high-DPI screens
    pixmap.setDevicePixelRatio(2.0)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    rect = QRectF(1.5, 1.5, size - 3, size - 3)
    if risk in (Risk.LOW, Risk.MEDIUM, Risk.HIGH):
        color = QColor(RISK_COLORS[risk])
        painter.setPen(QPen(color.darker(130), 1))
        painter.setBrush(color)
    else:
        painter.setPen(QPen(QColor(RISK_COLORS[Risk.NONE]), 1.5))
        painter.setBrush(Qt.BrushStyle.NoBrush)
    painter.drawEllipse(rect)
    painter.end()
    return QIcon(pixmap)
