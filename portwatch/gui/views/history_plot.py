"""The History tab's timeline: the number of listeners over time with a marker for each
listener that opened (green, up) or closed (red, down), drawn from counts per column.

It draws what `HistoryReader.buckets()` counted in SQL for its width: the fewest and most
listeners of each column as two step lines with the band between them, and the markers.
Markers closer than MARKER_PX pixels fold into one bigger marker with the count written beside
it; hovering one says how many and when, clicking it zooms in on its time until the markers
are single. A single marker carries its event's id: clicking it emits `event_clicked`. The
mouse wheel zooms the time axis around the pointer, dragging pans it, a double click shows the
whole history again. It is a plain QWidget painted with QPainter (no plotting library: the
tab's start and memory are the window's own), in the palette's colours, and holds only one
bucket per column of pixels.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any, NamedTuple

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPainterPath, QPalette, QPen, QPolygonF
from PySide6.QtWidgets import QSizePolicy, QWidget

from portwatch.core.store.history import CLOSED, OPENED
from portwatch.core.store.history_timeline import Bucket
from portwatch.gui.models.history_columns import CLOSED_COLOR, OPENED_COLOR, local_time

MARKER_PX = 30  # markers nearer than this fold into one (room for its count)
HIT_PX = 8  # how near the pointer must be to a marker
SELECTED_COLOR = (255, 196, 0)
LINE_COLOR = (120, 150, 200)
_TIME_STEPS = (1, 5, 15, 30, 60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400,
               2 * 86400, 7 * 86400, 30 * 86400)


class Marker:
    """One marker: a single event (`event_id`) or a fold of `count` events."""

    __slots__ = ("count", "end", "event_id", "kind", "start")

    def __init__(self, kind: str, start: float, end: float, count: int,
                 event_id: int | None) -> None:
        self.kind, self.start, self.end, self.count = kind, start, end, count
        self.event_id = event_id if count == 1 else None

    def describe(self) -> str:
        if self.count == 1:
            return f"{local_time(self.start)}  {self.kind}"
        return (f"{self.count:,} {self.kind} between {local_time(self.start)} and"
                f" {local_time(self.end)} (click to zoom in)")


class Spot(NamedTuple):
    """A drawn marker: where (data coordinates) and what (an event id, or a folded Marker)."""

    x: float
    y: float
    data: Any
    kind: str


def fold(kind: str, buckets: Sequence[Bucket], t0: float, group: float) -> list[Spot]:
    """The markers of `kind`: the buckets within one stretch of `group` seconds (MARKER_PX
    pixels) from t0 are one marker."""
    groups: dict[int, list[Bucket]] = {}
    for bucket in buckets:
        if bucket.opened if kind == OPENED else bucket.closed:
            groups.setdefault(int((bucket.start - t0) / group), []).append(bucket)
    spots = []
    for members in groups.values():
        if kind == OPENED:
            count, y = sum(b.opened for b in members), max(b.high or 0 for b in members)
            event_id = members[0].opened_id
        else:
            count, y = sum(b.closed for b in members), min(b.low or 0 for b in members)
            event_id = members[0].closed_id
        start, end = members[0].start, members[-1].end
        marker = Marker(kind, start, end, count, event_id)
        spots.append(Spot(start if count == 1 else (start + end) / 2, y,
                          event_id if count == 1 else marker, kind))
    return spots


def short_count(count: int) -> str:
    """1234 -> "1.2k", 56000 -> "56k", 3400000 -> "3.4M": a fold's count beside it."""
    for size, unit in ((1_000_000, "M"), (1_000, "k")):
        if count >= size:
            value = count / size
            return f"{value:.1f}{unit}" if value < 10 else f"{value:.0f}{unit}"
    return str(count)


def nice_step(span: float, most: int) -> float:
    """A round step (1, 2 or 5 × 10^n) that cuts `span` into at most `most` parts."""
    raw = span / max(most, 1)
    power = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    return next((power * m for m in (1, 2, 5, 10) if power * m >= raw), power * 10)


class HistoryPlot(QWidget):
    """Listeners over time, with folded markers; knows nothing of the file."""

    event_clicked = Signal(int)  # the id of a single marker's event
    hovered = Signal(object)  # the markers under the pointer: event ids and Markers
    range_changed = Signal()  # zoomed, panned, resized or back to the whole history

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumHeight(160)
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.auto = True  # the whole history; else the range the user zoomed to
        self._range = (0.0, 1.0)
        self._xs: list[float] = []
        self._highs: list[float] = []
        self._lows: list[float] = []
        self._spots: list[Spot] = []
        self.highlight: tuple[float, float] | None = None
        self._drag: tuple[float, tuple[float, float]] | None = None
        self._moved = False

    # -- the shown range -------------------------------------------------------------------

    def x_range(self) -> tuple[float, float]:
        return self._range

    def set_x_range(self, low: float, high: float, *, auto: bool = False) -> None:
        if high <= low:
            high = low + 1.0
        changed = (low, high) != self._range or auto != self.auto
        self._range, self.auto = (low, high), auto
        if changed:
            self.range_changed.emit()
            self.update()

    def show_all(self) -> None:
        """Back to the whole history (the view sets its range when it draws)."""
        self.auto = True
        self.range_changed.emit()

    def pixels(self) -> int:
        return max(int(self._area().width()), 1)

    # -- drawing ---------------------------------------------------------------------------

    def draw(self, buckets: Sequence[Bucket], t0: float, t1: float, last_count: int | None,
             markers: Sequence[Bucket] | None = None) -> None:
        """Show `buckets` of the range t0..t1; `last_count` (the count after the newest event
        in range) carries the line to t1. The markers are those of `markers` when given (a
        filter's events), else of `buckets`."""
        self._range = (t0, t1 if t1 > t0 else t0 + 1.0)
        self._xs = [b.start for b in buckets]
        self._highs = [float(b.high or 0) for b in buckets]
        self._lows = [float(b.low or 0) for b in buckets]
        if buckets and last_count is not None:
            self._xs.append(max(t1, self._xs[-1]))
            self._highs.append(float(last_count))
            self._lows.append(float(last_count))
        group = (t1 - t0) * MARKER_PX / self.pixels()
        marked = buckets if markers is None else markers
        self._spots = [*fold(OPENED, marked, t0, max(group, 1e-9)),
                       *fold(CLOSED, marked, t0, max(group, 1e-9))]
        self.update()

    def line(self) -> tuple[list[float], list[float], list[float]]:
        """(times, most, fewest listeners) of the drawn line's points."""
        return self._xs, self._highs, self._lows

    def spots(self) -> list[Spot]:
        """The drawn markers: single events first, by id, then folds by time."""
        return sorted(self._spots, key=lambda s: (isinstance(s.data, Marker),
                                                  s.data.start if isinstance(s.data, Marker)
                                                  else s.data))

    def set_highlight(self, point: tuple[float, float] | None) -> None:
        self.highlight = point
        self.update()

    def colors(self) -> tuple[QColor, QColor]:
        """(background, text): the palette's, light or dark like the window."""
        palette = self.palette()
        return palette.color(QPalette.ColorRole.Base), palette.color(QPalette.ColorRole.Text)

    def _area(self) -> QRectF:
        metrics = self.fontMetrics()
        left = metrics.horizontalAdvance("0,000,000") + metrics.height() + 10
        return QRectF(left, 8, max(self.width() - left - 14, 1),
                      max(self.height() - metrics.height() - 18, 1))

    def _y_range(self) -> tuple[float, float]:
        """The listener counts shown, with room above and below for markers and counts."""
        values = [*self._highs, *self._lows, *(s.y for s in self._spots)]
        low, high = (min(values), max(values)) if values else (0.0, 1.0)
        room = self.fontMetrics().height() + 12  # pixels: a marker and its count
        usable = max(self._area().height() - 2 * room, 20.0)
        pad = max(high - low, 1.0) * room / usable
        return low - pad, high + pad

    def to_pixels(self, x: float, y: float) -> QPointF:
        area, (t0, t1), (y0, y1) = self._area(), self._range, self._y_range()
        return QPointF(area.left() + (x - t0) / (t1 - t0) * area.width(),
                       area.bottom() - (y - y0) / (y1 - y0) * area.height())

    def paintEvent(self, _event: object) -> None:
        background, text = self.colors()
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.fillRect(self.rect(), background)
        area = self._area()
        self._paint_axes(painter, area, text)
        painter.setClipRect(area)
        self._paint_line(painter)
        painter.setClipRect(QRectF(area.left(), 0, area.width(), self.height()))
        self._paint_markers(painter, text)
        if self.highlight is not None:
            painter.setPen(QPen(QColor(*SELECTED_COLOR), 3))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawEllipse(self.to_pixels(*self.highlight), 8, 8)
        painter.end()

    def _paint_axes(self, painter: QPainter, area: QRectF, text: QColor) -> None:
        grid = QColor(text)
        grid.setAlpha(40)
        metrics = self.fontMetrics()
        y0, y1 = self._y_range()
        step = max(1.0, nice_step(y1 - y0, max(2, int(area.height() / 40))))  # whole listeners
        value = math.ceil(y0 / step) * step
        while value <= y1:
            y = self.to_pixels(self._range[0], value).y()
            painter.setPen(QPen(grid, 1))
            painter.drawLine(QPointF(area.left(), y), QPointF(area.right(), y))
            painter.setPen(text)
            label = f"{value:,.0f}"
            painter.drawText(QRectF(0, y - 10, area.left() - 6, 20),
                             int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter),
                             label)
            value += step
        t0, t1 = self._range
        most = max(2, int(area.width() / 110))
        step = next((s for s in _TIME_STEPS if (t1 - t0) / s <= most), _TIME_STEPS[-1])
        pattern = "%b %d" if step >= 86400 else "%H:%M" if step >= 60 else "%H:%M:%S"
        offset = time.localtime(t0).tm_gmtoff  # ticks on the local clock's round times
        tick = math.ceil((t0 + offset) / step) * step - offset
        painter.setPen(text)
        while tick <= t1:
            x = self.to_pixels(tick, y0).x()
            painter.drawLine(QPointF(x, area.bottom()), QPointF(x, area.bottom() + 4))
            painter.drawText(QRectF(x - 60, area.bottom() + 5, 120, metrics.height() + 4),
                             int(Qt.AlignmentFlag.AlignHCenter), time.strftime(
                                 pattern, time.localtime(tick)))
            tick += step
        painter.drawLine(area.bottomLeft(), area.bottomRight())
        painter.drawLine(area.bottomLeft(), area.topLeft())
        painter.save()
        painter.translate(metrics.height() * 0.2, area.center().y())
        painter.rotate(-90)
        painter.drawText(QRectF(-60, 0, 120, metrics.height()),
                         int(Qt.AlignmentFlag.AlignHCenter), "listeners")
        painter.restore()

    def _paint_line(self, painter: QPainter) -> None:
        if not self._xs:
            return
        highs, lows = QPainterPath(), QPainterPath()
        for path, values in ((highs, self._highs), (lows, self._lows)):
            path.moveTo(self.to_pixels(self._xs[0], values[0]))
            for x, previous, value in zip(self._xs[1:], values, values[1:], strict=False):
                path.lineTo(self.to_pixels(x, previous))  # steps: level until the next
                path.lineTo(self.to_pixels(x, value))
        band = QPainterPath(highs)
        band.connectPath(lows.toReversed())
        band.closeSubpath()
        fill = QColor(*LINE_COLOR, 70)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(fill)
        painter.drawPath(band)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setPen(QPen(QColor(*LINE_COLOR), 1.2))
        painter.drawPath(highs)
        painter.drawPath(lows)

    def _paint_markers(self, painter: QPainter, text: QColor) -> None:
        colors = {OPENED: QColor(*OPENED_COLOR), CLOSED: QColor(*CLOSED_COLOR)}
        for spot in self._spots:
            folded = isinstance(spot.data, Marker)
            size = 7.0 if folded else 5.0
            center = self.to_pixels(spot.x, spot.y)
            up = spot.kind == OPENED
            tip = -size if up else size
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(colors[spot.kind])
            painter.drawPolygon(QPolygonF([QPointF(center.x(), center.y() + tip),
                                           QPointF(center.x() - size, center.y() - tip * 0.7),
                                           QPointF(center.x() + size, center.y() - tip * 0.7)]))
            if folded:
                painter.setPen(text)
                height = self.fontMetrics().height()
                top = center.y() - size - height - 1 if up else center.y() + size + 1
                painter.drawText(QRectF(center.x() - 40, top, 80, height),
                                 int(Qt.AlignmentFlag.AlignHCenter),
                                 short_count(spot.data.count))

    # -- the pointer -----------------------------------------------------------------------

    def spots_at(self, point: QPointF) -> list[Spot]:
        """The markers within HIT_PX of a point of the widget, nearest first."""
        near = []
        for spot in self._spots:
            where = self.to_pixels(spot.x, spot.y)
            distance = math.hypot(where.x() - point.x(), where.y() - point.y())
            if distance <= HIT_PX:
                near.append((distance, spot))
        return [spot for _distance, spot in sorted(near, key=lambda item: item[0])]

    def click(self, spot: Spot) -> None:
        """What a click on a marker does: select its event, or zoom into a fold."""
        if isinstance(spot.data, Marker):
            marker = spot.data
            margin = max((marker.end - marker.start) * 0.1, 1.0)
            self.set_x_range(marker.start - margin, marker.end + margin)
        else:
            self.event_clicked.emit(int(spot.data))

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._drag, self._moved = (event.position().x(), self._range), False

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._drag is not None:
            start_x, (t0, t1) = self._drag
            dx = event.position().x() - start_x
            if abs(dx) > 3 or self._moved:
                self._moved = True
                shift = -dx / self.pixels() * (t1 - t0)
                self.set_x_range(t0 + shift, t1 + shift)
            return
        self.hovered.emit([spot.data for spot in self.spots_at(event.position())])

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and not self._moved:
            found = self.spots_at(event.position())
            if found:
                self.click(found[0])
        self._drag = None

    def mouseDoubleClickEvent(self, _event: QMouseEvent) -> None:
        self.show_all()

    def wheelEvent(self, event: Any) -> None:
        steps = event.angleDelta().y() / 120
        if not steps:
            return
        t0, t1 = self._range
        area = self._area()
        at = t0 + (event.position().x() - area.left()) / area.width() * (t1 - t0)
        factor = 0.8 ** steps
        self.set_x_range(at - (at - t0) * factor, at + (t1 - at) * factor)

    def leaveEvent(self, _event: object) -> None:
        self.hovered.emit([])

    def resizeEvent(self, _event: object) -> None:
        self.range_changed.emit()  # as many columns as pixels
