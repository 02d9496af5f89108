"""The History tab's timeline: the number of listeners over time with a marker for each
listener that opened (green, up) or closed (red, down), drawn from counts per column.

It draws what `HistoryReader.buckets()` counted in SQL for the plot's width: the fewest and
most listeners of each column as two step lines with the band between them, and the markers.
Markers closer than MARKER_PX pixels fold into one bigger marker with the count written
beside it; hovering one says how many and when, clicking it zooms in on its time until the
markers are single. A single marker carries its event's id (`spot.data()`): clicking it emits
`event_clicked`. The plot holds no events, only one bucket per column of pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal

from portwatch.core.store.history import CLOSED, OPENED
from portwatch.core.store.history_timeline import Bucket
from portwatch.gui.models.history_columns import CLOSED_COLOR, OPENED_COLOR, local_time

MARKER_PX = 30  # markers nearer than this fold into one (room for its count)
SELECTED_COLOR = (255, 196, 0)
LINE_COLOR = (120, 150, 200)


class Marker:
    """One drawn marker: a single event (`event_id`) or a fold of `count` events."""

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


def fold(kind: str, buckets: Sequence[Bucket], t0: float, group: float) -> list[tuple]:
    """(x, y, Marker) of `kind`: the buckets within one stretch of `group` seconds (MARKER_PX
    pixels) from t0 are one marker."""
    groups: dict[int, list[Bucket]] = {}
    for bucket in buckets:
        if (bucket.opened if kind == OPENED else bucket.closed):
            groups.setdefault(int((bucket.start - t0) / group), []).append(bucket)
    markers = []
    for members in groups.values():
        if kind == OPENED:
            count = sum(b.opened for b in members)
            y = max(b.high or 0 for b in members)
            event_id = members[0].opened_id
        else:
            count = sum(b.closed for b in members)
            y = min(b.low or 0 for b in members)
            event_id = members[0].closed_id
        start, end = members[0].start, members[-1].end
        x = start if count == 1 else (start + end) / 2
        markers.append((x, y, Marker(kind, start, end, count, event_id)))
    return markers


def short_count(count: int) -> str:
    """1234 -> "1.2k", 56000 -> "56k", 3400000 -> "3.4M": a fold's count beside it."""
    for size, unit in ((1_000_000, "M"), (1_000, "k")):
        if count >= size:
            value = count / size
            return f"{value:.1f}{unit}" if value < 10 else f"{value:.0f}{unit}"
    return str(count)


class HistoryPlot(pg.PlotWidget):
    """Listeners over time, with folded markers; knows nothing of the file."""

    event_clicked = Signal(int)  # the id of a single marker's event
    hovered = Signal(object)  # the markers under the pointer: event ids and Markers

    def __init__(self) -> None:
        super().__init__(axisItems={"bottom": pg.DateAxisItem(orientation="bottom")})
        self.setLabel("left", "listeners")
        self.showGrid(x=False, y=True, alpha=0.15)
        self.setMouseEnabled(x=True, y=False)
        self.setMinimumHeight(160)
        item = self.getPlotItem()
        pen = pg.mkPen(LINE_COLOR, width=1)
        self.high_line = pg.PlotDataItem([], [], stepMode="left", pen=pen)
        self.low_line = pg.PlotDataItem([], [], stepMode="left", pen=pen)
        self.band = pg.FillBetweenItem(self.low_line, self.high_line,
                                       brush=pg.mkBrush(*LINE_COLOR, 70))
        for part in (self.band, self.low_line, self.high_line):
            item.addItem(part)
        self.marker_items: dict[str, pg.ScatterPlotItem] = {}
        for kind, color, symbol in ((OPENED, OPENED_COLOR, "t1"), (CLOSED, CLOSED_COLOR, "t")):
            markers = pg.ScatterPlotItem(symbol=symbol, brush=pg.mkBrush(color),
                                         pen=pg.mkPen(None), hoverable=True, tip=None)
            markers.sigClicked.connect(self._clicked)
            markers.sigHovered.connect(self._hovered)
            item.addItem(markers)
            self.marker_items[kind] = markers
        self.highlight = pg.ScatterPlotItem(size=16, symbol="o", brush=pg.mkBrush(None),
                                            pen=pg.mkPen(SELECTED_COLOR, width=3))
        item.addItem(self.highlight)
        self._labels: list[pg.TextItem] = []
        self.markers: list[Marker] = []

    # -- drawing ---------------------------------------------------------------------------

    def draw(self, buckets: Sequence[Bucket], t0: float, t1: float, pixels: int,
             last_count: int | None) -> None:
        """Draw `buckets` of the range t0..t1 shown `pixels` wide; `last_count` (the count
        after the newest event in range) carries the line to t1."""
        if buckets:
            xs = [b.start for b in buckets]
            highs = [b.high or 0 for b in buckets]
            lows = [b.low or 0 for b in buckets]
            if last_count is not None:
                xs.append(max(t1, xs[-1]))
                highs.append(last_count)
                lows.append(last_count)
            x = np.asarray(xs, dtype=float)
            self.high_line.setData(x, np.asarray(highs, dtype=float))
            self.low_line.setData(x, np.asarray(lows, dtype=float))
        else:
            self.high_line.setData([], [])
            self.low_line.setData([], [])
        group = (t1 - t0) * MARKER_PX / max(pixels, 1)
        self.markers = []
        labels = []
        for kind, item in self.marker_items.items():
            folded = fold(kind, buckets, t0, max(group, 1e-9))
            self.markers.extend(marker for *_xy, marker in folded)
            item.setData(x=[x for x, _y, _m in folded], y=[y for _x, y, _m in folded],
                         data=[m.event_id if m.count == 1 else m for *_xy, m in folded],
                         size=[9 if m.count == 1 else 13 for *_xy, m in folded])
            labels.extend((x, y, m) for x, y, m in folded if m.count > 1)
        self._label(labels)

    def _label(self, folded: list[tuple[float, float, Marker]]) -> None:
        """The count beside each folded marker (TextItems reused between redraws)."""
        item = self.getPlotItem()
        while len(self._labels) < len(folded):
            label = pg.TextItem(anchor=(0, 0.5))
            item.addItem(label)
            self._labels.append(label)
        color = self.getPlotItem().getAxis("left").textPen().color()
        for label, (x, y, marker) in zip(self._labels, folded, strict=False):
            label.setText(short_count(marker.count), color=color)
            label.setAnchor((0, 1.1) if marker.kind == OPENED else (0, -0.1))
            label.setPos(x, y)
            label.show()
        for label in self._labels[len(folded):]:
            label.hide()

    def set_highlight(self, point: tuple[float, float] | None) -> None:
        self.highlight.setData(*(([point[0]], [point[1]]) if point else ([], [])))

    def spots(self) -> list[Any]:
        """The drawn marker spots, single events first by id, then folds by time."""
        spots = [spot for item in self.marker_items.values() for spot in item.points()]
        return sorted(spots, key=lambda s: (not isinstance(s.data(), int),
                                            s.data() if isinstance(s.data(), int) else
                                            s.data().start))

    # -- the pointer -----------------------------------------------------------------------

    def _clicked(self, _item: object, points: Sequence[Any], _event: object = None) -> None:
        if not len(points):
            return
        data = points[0].data()
        if isinstance(data, Marker):  # a fold: zoom in until its markers are single
            margin = max((data.end - data.start) * 0.1, 1.0)
            self.getPlotItem().getViewBox().setXRange(data.start - margin, data.end + margin,
                                                      padding=0)
        else:
            self.event_clicked.emit(int(data))

    def _hovered(self, _item: object, points: Sequence[Any], _event: object = None) -> None:
        self.hovered.emit([point.data() for point in points])
