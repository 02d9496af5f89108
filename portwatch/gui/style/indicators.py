"""Check boxes and radio buttons that can be seen on a dark palette.

Fusion outlines a check box in the Window colour darker(140), a radio button's circle in
darker(150), and fills both with Base: on our dark palette (theme.py) that is a #1f1f21 or
#1d1d1f line around a #1e1e20 square or disc on a #2b2b2e window, so an unticked box (the
filter bar's, a checkable menu item's, an item view's) or an unchosen radio button (the Ignore
dialog's) all but vanishes. No palette role gives Fusion a lighter outline without changing the
whole window, so `ReadableIndicators`, a proxy of Fusion, draws the indicator as Fusion does
and then, on a dark palette only, outlines it again (the same square, or the same circle)
halfway between the window and its text. Light palettes and every other style (a desktop's own)
are left as they are; the keyboard focus outline stays Fusion's. (Fusion's menus draw an
exclusive item, of a QActionGroup, as a dot in the text colour when chosen and nothing when
not, on either palette: nothing faint there to outline.)
"""

from __future__ import annotations

from PySide6.QtCore import QPointF
from PySide6.QtGui import QColor, QPainter, QPalette, QPen
from PySide6.QtWidgets import QApplication, QProxyStyle, QStyle, QStyleFactory, QStyleOption

_FOCUS = QStyle.StateFlag.State_HasFocus | QStyle.StateFlag.State_KeyboardFocusChange
_BOX = QStyle.PrimitiveElement.PE_IndicatorCheckBox
_RADIO = QStyle.PrimitiveElement.PE_IndicatorRadioButton


def _dark(palette: QPalette) -> bool:
    return palette.color(QPalette.ColorRole.Window).lightness() < 128


def indicator_outline(palette: QPalette, enabled: bool = True) -> QColor:
    """The outline for a check box or radio button on a dark `palette`: between the window and
    its text (about 4:1 against the window; 3.5:1 where a circle's antialiased edge touches its
    square), fainter when disabled."""
    window = palette.color(QPalette.ColorRole.Window)
    text = palette.color(QPalette.ColorRole.WindowText)
    share = 0.5 if enabled else 0.3
    return QColor.fromRgbF(*(w + (t - w) * share for w, t in (
        (window.redF(), text.redF()), (window.greenF(), text.greenF()),
        (window.blueF(), text.blueF()))))


class ReadableIndicators(QProxyStyle):
    """Fusion, with check box and radio button outlines readable on a dark palette (Fusion's
    menus and item views draw their check boxes through PE_IndicatorCheckBox of this proxy)."""

    def drawPrimitive(self, element: QStyle.PrimitiveElement, option: QStyleOption,
                      painter: QPainter, widget=None) -> None:
        super().drawPrimitive(element, option, painter, widget)
        if (element not in (_BOX, _RADIO) or not _dark(option.palette)
                or (option.state & _FOCUS) == _FOCUS):
            return
        enabled = bool(option.state & QStyle.StateFlag.State_Enabled)
        painter.save()
        painter.setPen(QPen(indicator_outline(option.palette, enabled), 1))
        painter.setBrush(QColor(0, 0, 0, 0))
        rect = option.rect
        if element == _BOX:
            painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
            painter.drawRect(rect.adjusted(0, 0, -1, -1))
        else:
            # Fusion's circle (qfusionstyle.cpp, PE_IndicatorRadioButton), over its own line
            painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            radius = (rect.width() + (rect.width() + 1) % 2) / 2.0 - 1
            painter.drawEllipse(QPointF(rect.center()) + QPointF(1, 1), radius, radius)
        painter.restore()


def install_readable_indicators(app: QApplication) -> bool:
    """Put `ReadableIndicators` in front of the application's style when that is Fusion (once;
    call before the application's palette is read). Whether it is in place."""
    style = app.style()
    if isinstance(style, ReadableIndicators):
        return True
    if style.name().lower() != "fusion":
        return False  # a desktop's own style draws its own check boxes
    app.setStyle(ReadableIndicators(QStyleFactory.create("Fusion")))
    return True
