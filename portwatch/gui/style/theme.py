"""The window's colour scheme: the desktop's (Qt's colour-scheme hint), or light or dark as chosen
in Preferences (the `color_scheme` setting).

`apply_color_scheme(app, choice)` asks Qt for the scheme (QStyleHints.setColorScheme). Where
the platform cannot switch (no desktop theme: Xvfb, a plain window manager, offscreen), it sets
a dark palette itself, and puts the desktop's palette back for light. Widgets that draw their
own colours (the table's highlights, the details pane, the History chart) read `is_dark()` when
they draw and redraw on QEvent.PaletteChange. `SchemeFollower` re-applies "system" when the
desktop's scheme changes, and puts indicators.py's proxy in front of Fusion so check boxes and
radio buttons show on the dark palette.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from portwatch.gui.style.indicators import install_readable_indicators
from portwatch.gui.style.risk_style import dark_palette_in_use

log = logging.getLogger(__name__)

_SCHEMES = {"light": Qt.ColorScheme.Light, "dark": Qt.ColorScheme.Dark}

# A dark palette in the spirit of Fusion's: text at least 7:1 on its background.
_DARK = {
    QPalette.ColorRole.Window: "#2b2b2e",
    QPalette.ColorRole.WindowText: "#e8e8e8",
    QPalette.ColorRole.Base: "#1e1e20",
    QPalette.ColorRole.AlternateBase: "#27272a",
    QPalette.ColorRole.Text: "#e8e8e8",
    QPalette.ColorRole.Button: "#38383c",
    QPalette.ColorRole.ButtonText: "#e8e8e8",
    QPalette.ColorRole.BrightText: "#ff8080",
    QPalette.ColorRole.Highlight: "#2f6fd6",
    QPalette.ColorRole.HighlightedText: "#ffffff",
    QPalette.ColorRole.ToolTipBase: "#38383c",
    QPalette.ColorRole.ToolTipText: "#e8e8e8",
    QPalette.ColorRole.Link: "#7cb1ff",
    QPalette.ColorRole.LinkVisited: "#c29cff",
    QPalette.ColorRole.PlaceholderText: "#9a9a9a",
    QPalette.ColorRole.Light: "#4a4a4f",
    QPalette.ColorRole.Midlight: "#404045",
    QPalette.ColorRole.Mid: "#303034",
    QPalette.ColorRole.Dark: "#18181a",
    QPalette.ColorRole.Shadow: "#000000",
}
_DARK_DISABLED = {
    QPalette.ColorRole.WindowText: "#8a8a8a",
    QPalette.ColorRole.Text: "#8a8a8a",
    QPalette.ColorRole.ButtonText: "#8a8a8a",
    QPalette.ColorRole.Highlight: "#4a4a4f",
}


def dark_palette() -> QPalette:
    palette = QPalette()
    for role, color in _DARK.items():
        palette.setColor(role, QColor(color))
    for role, color in _DARK_DISABLED.items():
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor(color))
    return palette


def is_dark(palette: QPalette | None = None) -> bool:
    """Whether the colours in use (or `palette`) are dark: light text on a dark window."""
    if palette is None:
        return dark_palette_in_use()
    return palette.color(QPalette.ColorRole.Window).lightness() < 128


def apply_color_scheme(app: QApplication, choice: str, original: QPalette) -> bool:
    """Follow `choice` ("system", "light" or "dark"); `original` is the desktop's palette from
    before any dark one of ours. Returns whether the window is now dark."""
    hints = app.styleHints()
    hints.setColorScheme(_SCHEMES.get(choice, Qt.ColorScheme.Unknown))
    wanted = _SCHEMES.get(choice) or hints.colorScheme()
    if wanted == Qt.ColorScheme.Dark and not is_dark(app.palette()):
        app.setPalette(dark_palette())  # the platform could not switch: paint it ourselves
    elif wanted != Qt.ColorScheme.Dark and is_dark(app.palette()) and not is_dark(original):
        app.setPalette(original)  # back to the desktop's light palette
    elif wanted == Qt.ColorScheme.Light and is_dark(app.palette()):
        app.setPalette(app.style().standardPalette())
    dark = is_dark(app.palette())
    log.debug("colour scheme %s: %s", choice, "dark" if dark else "light")
    return dark


class SchemeFollower(QObject):
    """Keeps the window on the user's choice; with "system", follows the desktop's changes."""

    def __init__(self, app: QApplication, choice: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._app = app
        install_readable_indicators(app)  # before the palette is read: setStyle may reset it
        self._original = QPalette(app.palette())
        self.choice = choice
        app.styleHints().colorSchemeChanged.connect(self._desktop_changed)
        self.dark = apply_color_scheme(app, choice, self._original)

    def set_choice(self, choice: str) -> None:
        if choice != self.choice:
            self.choice = choice
            self.dark = apply_color_scheme(self._app, choice, self._original)

    def _desktop_changed(self, _scheme: Qt.ColorScheme) -> None:
        if self.choice == "system":
            self.dark = apply_color_scheme(self._app, "system", self._original)
