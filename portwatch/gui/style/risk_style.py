"""How risk and row states look: labels, colours and the small round risk icons.

One place decides the colours so the table, the details pane and the status bar agree.
Icons are painted once per risk (after the QGuiApplication exists) and reused.
"""

from __future__ import annotations

import functools

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QPainter, QPalette, QPen, QPixmap

from portwatch.core.model import Risk, Severity

UNKNOWN_RISK_LABEL = "?"

# Fills readable on light and dark palettes; the icon carries the colour, the text the word.
RISK_COLORS = {
    Risk.HIGH: "#d32f2f",
    Risk.MEDIUM: "#f57c00",
    Risk.LOW: "#fbc02d",
    Risk.NONE: "#9e9e9e",
}
# Text in the risk's colour needs more contrast than a filled dot: every text colour here is at
# least 4.5:1 on a white background (the dark ones below on the dark palette's base).
RISK_TEXT_COLORS = {Risk.HIGH: "#c62828", Risk.MEDIUM: "#b34700", Risk.LOW: "#8a6500",
                    Risk.NONE: "#6b6b6b"}
SEVERITY_COLORS = {
    Severity.HIGH: RISK_TEXT_COLORS[Risk.HIGH],
    Severity.MEDIUM: RISK_TEXT_COLORS[Risk.MEDIUM],
    Severity.LOW: RISK_TEXT_COLORS[Risk.LOW],
    Severity.INFO: "#546e7a",
}

# TCPView-style row highlights: new rows green, closing rows red (with dark text on both).
NEW_ROW_BACKGROUND = "#c8f7c5"
CLOSING_ROW_BACKGROUND = "#f9c0c0"
HIGHLIGHT_FOREGROUND = "#000000"
MUTED_FOREGROUND = "#707070"

# The same on a dark palette (theme.py): lighter text colours, deeper row tints, white text.
DARK_RISK_TEXT_COLORS = {Risk.HIGH: "#ff7a7a", Risk.MEDIUM: "#ffab5e", Risk.LOW: "#f2c94c",
                         Risk.NONE: "#a8a8a8"}
DARK_SEVERITY_COLORS = {Severity.HIGH: "#ff7a7a", Severity.MEDIUM: "#ffab5e",
                        Severity.LOW: "#e6c04a", Severity.INFO: "#9fb4bf"}
ROW_COLORS = {  # dark? -> (new row background, closing row background, their text)
    False: (NEW_ROW_BACKGROUND, CLOSING_ROW_BACKGROUND, HIGHLIGHT_FOREGROUND),
    True: ("#1d5a2a", "#6e2323", "#ffffff"),
}
MUTED_COLORS = {False: MUTED_FOREGROUND, True: "#a0a0a0"}
DETAIL_COLORS = {False: "#555555", True: "#b8b8b8"}  # second lines in the details pane


def dark_palette_in_use() -> bool:
    """Whether the application's palette is dark (see theme.py)."""
    if QGuiApplication.instance() is None:
        return False
    return QGuiApplication.palette().color(QPalette.ColorRole.Window).lightness() < 128


def risk_text_color(risk: Risk) -> str:
    """The colour of text about `risk`, readable on the palette in use."""
    return (DARK_RISK_TEXT_COLORS if dark_palette_in_use() else RISK_TEXT_COLORS)[risk]


def severity_color(severity: Severity) -> str:
    return (DARK_SEVERITY_COLORS if dark_palette_in_use() else SEVERITY_COLORS)[severity]


def detail_color() -> str:
    return DETAIL_COLORS[dark_palette_in_use()]


def muted_color() -> str:
    return MUTED_COLORS[dark_palette_in_use()]


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
