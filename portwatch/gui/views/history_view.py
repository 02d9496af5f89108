"""The History tab: a timeline of the listener count with opened/closed markers, above a
filterable table of the recorded events; selecting either one selects the other.

`HistoryView(store_path)` reads the history file through its own read-only connection
(core.history.HistoryReader, made in the GUI thread; the worker thread's HistoryStore writes).
`refresh()` reads only the events stored since the last read; `add_events(events)` takes events
from elsewhere (tests, a reader of another file). Events are named by
their *event index*, their position in arrival order: `spot.data()` of a marker, the argument
of `select_event()` and of the `event_selected` signal, whatever order the table is sorted in.

A long history opens at its newest SHOWN_AT_OPEN events (the rest stays in the file, and
the view says so). A month of history (50,000 events) stays smooth: the file is read in
chunks, redraws are coalesced with a single-shot timer, the table model inserts rows (never
resets) and sorts with one key per event (history_model.py), and the plot draws at most
`MAX_MARKERS` markers, those in view, over a step line that pyqtgraph clips to the view and
downsamples. Text from other programs is shown as plain text, and escaped where Qt would read
rich text (tooltips).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QItemSelectionModel, Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from portwatch.core.store.history import (
    CLOSED,
    OPENED,
    PRESENT,
    HistoryError,
    HistoryEvent,
    HistoryReader,
    OutdatedSchema,
)
from portwatch.gui.models.history_model import (
    CLOSED_COLOR,
    OPENED_COLOR,
    Column,
    EventFilterProxy,
    HistoryEventModel,
    describe_event,
)
from portwatch.gui.style.plain import plain_tooltip
from portwatch.gui.style.theme import style_plot
from portwatch.gui.views.column_chooser import ColumnChooser

log = logging.getLogger(__name__)

REDRAW_DELAY_MS = 250  # updates within this time are drawn once
FILTER_DELAY_MS = 200
LOAD_CHUNK = 5000  # events read per step when loading
SHOWN_AT_OPEN = 50_000  # the newest events read when the tab opens (portwatch history: all)
AUTO_REFRESH_MS = 5000  # how often a visible view looks for new events in the file
MAX_MARKERS = 3000  # markers drawn at once; more in view are thinned (selection always drawn)
SELECTED_COLOR = (255, 196, 0)


class HistoryView(QWidget):
    """Timeline plot of the listener count with event markers, and the event table."""

    event_selected = Signal(int)  # event index (arrival order) of the selected event, or -1

    def __init__(self, store_path: Path | str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store_path = Path(store_path)
        self._reader: HistoryReader | None = None
        self._last_id = 0
        self._selected = -1
        self._more_pending = False
        self.note = ""  # what the view leaves out, shown above it
        self._syncing = False  # True while the table follows the plot (no feedback loop)
        # Plot data, parallel to the model's rows.
        self._times: list[float] = []
        self._counts: list[int] = []
        self._kinds: list[str] = []
        self._line_x: list[float] = []
        self._line_y: list[int] = []
        self._last_line_key: tuple[str, float, int | None] | None = None
        self._shown_rows = np.zeros(0, dtype=np.int64)  # rows whose markers are drawn
        self._array_cache: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._opened_cache: np.ndarray | None = None
        self.redraws = 0  # how many times the plot was redrawn (for tests and tuning)

        self.model = HistoryEventModel(self)
        self.proxy = EventFilterProxy(self)
        self.proxy.setSourceModel(self.model)
        self._build()

        self._redraw_timer = QTimer(self)
        self._redraw_timer.setSingleShot(True)
        self._redraw_timer.setInterval(REDRAW_DELAY_MS)
        self._redraw_timer.timeout.connect(self._redraw)
        self._filter_timer = QTimer(self)
        self._filter_timer.setSingleShot(True)
        self._filter_timer.setInterval(FILTER_DELAY_MS)
        self._filter_timer.timeout.connect(self._apply_filter)
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setInterval(AUTO_REFRESH_MS)
        self._refresh_timer.timeout.connect(self.refresh)

    # -- layout ----------------------------------------------------------------------------

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange) \
                and hasattr(self, "plot"):
            style_plot(self.plot, self.palette())  # light or dark, like the window

    def _build(self) -> None:
        axis = pg.DateAxisItem(orientation="bottom")
        self.plot = pg.PlotWidget(axisItems={"bottom": axis})
        self.plot.setLabel("left", "listeners")
        self.plot.showGrid(x=False, y=True, alpha=0.15)
        self.plot.setMouseEnabled(x=True, y=False)
        self.plot.setMinimumHeight(160)
        style_plot(self.plot, self.palette())  # and again when the palette changes
        item = self.plot.getPlotItem()
        item.setClipToView(True)
        self.curve = pg.PlotDataItem([], [], stepMode="left", autoDownsampleFactor=1.5,
                                     pen=pg.mkPen((120, 150, 200), width=1))  # width 1: fast
        item.addItem(self.curve)
        self.curve.setClipToView(True)
        self.curve.setDownsampling(auto=True, method="peak")  # min and max per pixel column
        # One scatter item per kind (one brush and symbol each: much faster than per-spot
        # styles): opened = green triangle up, closed = red triangle down.
        self.marker_items: dict[str, pg.ScatterPlotItem] = {}
        for kind, color, symbol in ((OPENED, OPENED_COLOR, "t1"), (CLOSED, CLOSED_COLOR, "t")):
            markers = pg.ScatterPlotItem(size=9, symbol=symbol, brush=pg.mkBrush(color),
                                         pen=pg.mkPen(None), hoverable=True, tip=None,
                                         hoverSize=13)
            markers.sigClicked.connect(self.markers_clicked)
            markers.sigHovered.connect(self.markers_hovered)
            item.addItem(markers)
            self.marker_items[kind] = markers
        self.highlight = pg.ScatterPlotItem(size=16, symbol="o", brush=pg.mkBrush(None),
                                            pen=pg.mkPen(SELECTED_COLOR, width=3))
        item.addItem(self.highlight)
        item.getViewBox().sigXRangeChanged.connect(self._schedule_redraw)

        self.hover_label = QLabel(" ")
        self.hover_label.setTextFormat(Qt.TextFormat.PlainText)
        self.status_label = QLabel("")
        self.status_label.setTextFormat(Qt.TextFormat.PlainText)
        self.status_label.setWordWrap(True)

        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter events: process, port, address, service…")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(lambda _text: self._filter_timer.start())

        self.table = QTableView()
        self.table.setObjectName("historyTable")  # its columns are remembered by that name
        self.table.setAccessibleName("Recorded events")
        self.plot.setAccessibleName("Listeners over time")
        self.plot.setAccessibleDescription("The number of listeners over time; a triangle up"
                                           " for each that opened, down for each that closed")
        self.filter_edit.setAccessibleName("Filter events")
        self.table.setModel(self.proxy)
        # No sort column at first: rows stay in the order they were recorded (oldest first),
        # so appending a month of events costs nothing; a header click sorts on native values.
        self.table.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.table.setSortingEnabled(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(
            self.table.fontMetrics().height() + 6)  # fixed row heights: no per-row measuring
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        metrics = self.table.fontMetrics()
        for column, sample in ((Column.TIME, "2026-11-23 20:04:05"), (Column.EVENT, "present"),
                               (Column.PROTO, "proto"), (Column.ADDRESS, "192.168.100.100"),
                               (Column.PORT, "65535"), (Column.PID, "4194304"),
                               (Column.PROCESS, "systemd-resolved"),
                               (Column.EXPOSURE, "all interfaces"),
                               (Column.SERVICE, "http-alt-extra")):
            self.table.setColumnWidth(column, metrics.horizontalAdvance(sample) + 18)
        # The spare width goes to Service (Risk, last, no longer takes it and cuts Service)
        self.columns = ColumnChooser(self.table, stretch=(Column.SERVICE,), keep=(Column.TIME,))
        self.table.selectionModel().selectionChanged.connect(self._table_selection_changed)

        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(self.plot)
        top_layout.addWidget(self.hover_label)
        bottom = QWidget()
        bottom_layout = QVBoxLayout(bottom)
        bottom_layout.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(self.filter_edit)
        bottom_layout.addLayout(row)
        bottom_layout.addWidget(self.table)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.setObjectName("historySplitter")  # remembered between runs by that name
        splitter.addWidget(top)
        splitter.addWidget(bottom)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 3)
        layout = QVBoxLayout(self)
        layout.addWidget(self.status_label)
        layout.addWidget(splitter)
        self.status_label.hide()

    # -- loading ---------------------------------------------------------------------------

    @Slot()
    def refresh(self) -> None:
        """Read the events stored since the last refresh (all of them the first time), in
        chunks of LOAD_CHUNK with the event loop running in between, so a long history loads
        without freezing the window."""
        try:
            if self._reader is None:
                self._reader = HistoryReader(self.store_path)
                self._start_at_the_newest(self._reader)
            events = self._reader.events(after_id=self._last_id, limit=LOAD_CHUNK, by_id=True)
        except FileNotFoundError:
            self._say(f"No history recorded yet ({self.store_path}).")
            return
        except OutdatedSchema:
            self._say("The history file is being upgraded; it is shown once portwatch has"
                      " recorded with it.")
            return
        except Exception as exc:  # a view must never take the application down
            log.warning("history view: %s", exc)
            self._say(str(exc) if isinstance(exc, HistoryError)
                      else f"Cannot read the history file {self.store_path}: {exc}")
            self._drop_reader()
            return
        self._say(self.note)
        self.add_events(events)
        if len(events) == LOAD_CHUNK and not self._more_pending:
            self._more_pending = True
            QTimer.singleShot(0, self._load_more)

    def _load_more(self) -> None:
        self._more_pending = False
        self.refresh()

    @property
    def loading(self) -> bool:
        """True while a long history is still being read in chunks."""
        return self._more_pending

    def add_events(self, events: Iterable[HistoryEvent]) -> None:
        """Append events (oldest first, newer than those shown); the plot redraws shortly."""
        fresh = [item for item in events if item.id is None or item.id > self._last_id]
        if not fresh:
            return
        for item in fresh:
            self._times.append(item.time)
            self._counts.append(item.listeners)
            self._kinds.append(item.event)
            key = (item.event, item.time, item.run_id)
            if item.event == PRESENT and key == self._last_line_key:
                self._line_y[-1] = item.listeners  # one point per run snapshot
            else:
                self._line_x.append(item.time)
                self._line_y.append(item.listeners)
            self._last_line_key = key
        self._last_id = max([self._last_id, *(item.id or 0 for item in fresh)])
        self.model.append(fresh)
        if self.redraws:
            self._schedule_redraw()
        else:  # the first events: a plot at once, later updates coalesced
            self._redraw()

    def _start_at_the_newest(self, reader: HistoryReader) -> None:
        """Read only the newest SHOWN_AT_OPEN events of a long history (ids are dense: only a
        prefix is ever deleted), and say what is left out."""
        if self._last_id or self.model.rowCount():
            return
        newest = reader.last_event_id()
        oldest = reader.first_event_id()
        stored = newest - oldest + 1 if oldest else 0
        if stored > SHOWN_AT_OPEN:
            self._last_id = newest - SHOWN_AT_OPEN
            self.note = (f"Showing the newest {SHOWN_AT_OPEN:,} of {stored:,} recorded events;"
                         " `portwatch history --since/--until` lists any of them.")

    def _say(self, text: str) -> None:
        self.status_label.setText(text)
        self.status_label.setVisible(bool(text))

    def _drop_reader(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    # -- drawing ---------------------------------------------------------------------------

    @Slot()
    def _schedule_redraw(self, *_args: object) -> None:
        if not self._redraw_timer.isActive():
            self._redraw_timer.start()

    def flush(self) -> None:
        """Draw now what is pending (tests; and before exporting a picture)."""
        if self._redraw_timer.isActive():
            self._redraw_timer.stop()
            self._redraw()

    def _redraw(self) -> None:
        self.redraws += 1
        if self._line_x:
            self.curve.setData(np.asarray(self._line_x, dtype=float),
                               np.asarray(self._line_y, dtype=float))
        self._draw_markers()
        self._draw_highlight()

    def _marker_rows(self) -> np.ndarray:
        """Rows of opened/closed events in the visible time range that pass the filter,
        thinned evenly to MAX_MARKERS."""
        if not self._times:
            return np.zeros(0, dtype=np.int64)
        times, _counts, is_marker = self._arrays()
        wanted = is_marker.copy()
        view = self.plot.getPlotItem().getViewBox()
        if not view.autoRangeEnabled()[0]:  # zoomed in: only what is in view (and a margin)
            low, high = view.viewRange()[0]
            span = high - low
            wanted &= (times >= low - span * 0.05) & (times <= high + span * 0.05)
        needle = self.proxy.needle
        if needle:
            texts = self.model.search_texts()
            wanted &= np.fromiter((needle in text for text in texts), bool, len(texts))
        rows = np.flatnonzero(wanted)
        if len(rows) > MAX_MARKERS:
            rows = rows[np.linspace(0, len(rows) - 1, MAX_MARKERS).astype(np.int64)]
        return rows

    def _arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """times, counts and "has a marker" of every row as arrays (cached until new rows)."""
        if self._array_cache is None or len(self._array_cache[0]) != len(self._times):
            self._array_cache = (
                np.asarray(self._times, dtype=float),
                np.asarray(self._counts, dtype=float),
                np.isin(np.asarray(self._kinds), (OPENED, CLOSED)),  # not present/changed
            )
        return self._array_cache

    def _draw_markers(self) -> None:
        rows = self._marker_rows()
        self._shown_rows = rows
        times, counts, _ = self._arrays()
        opened = self._opened_mask()[rows]
        for kind, chosen in ((OPENED, rows[opened]), (CLOSED, rows[~opened])):
            self.marker_items[kind].setData(x=times[chosen], y=counts[chosen],
                                            data=chosen.tolist())

    def _opened_mask(self) -> np.ndarray:
        if self._opened_cache is None or len(self._opened_cache) != len(self._kinds):
            self._opened_cache = np.asarray(self._kinds) == OPENED
        return self._opened_cache

    def _draw_highlight(self) -> None:
        chosen = self._selected
        if 0 <= chosen < len(self._times):
            self.highlight.setData([self._times[chosen]], [self._counts[chosen]], data=[chosen])
        else:
            self.highlight.setData([], [])

    def marker_rows(self) -> list[int]:
        """Source rows whose markers are drawn now."""
        return self._shown_rows.tolist()

    def marker_spots(self) -> list[Any]:
        """The drawn marker spots (pyqtgraph SpotItems; spot.data() is the event index)."""
        spots = [spot for item in self.marker_items.values() for spot in item.points()]
        return sorted(spots, key=lambda spot: spot.data())

    # -- plot -> table ---------------------------------------------------------------------

    @Slot(object, object, object)
    def markers_clicked(self, _item: object, points: Sequence[Any], _event: object = None
                        ) -> None:
        """A click on markers selects the (topmost) clicked event in the table."""
        if len(points):
            self.select_event(int(points[0].data()))

    @Slot(object, object, object)
    def markers_hovered(self, _item: object, points: Sequence[Any], _event: object = None
                        ) -> None:
        if not len(points):
            self.hover_label.setText(" ")
            self.plot.setToolTip("")
            return
        lines = [describe_event(self.model.event_at(int(point.data()))) for point in points[:3]]
        if len(points) > 3:
            lines.append(f"… and {len(points) - 3} more")
        text = "\n".join(lines)
        self.hover_label.setText(text)  # PlainText label
        self.plot.setToolTip(plain_tooltip(text))

    def select_event(self, event_index: int) -> None:
        """Select event `event_index` (arrival order, as spot.data()) in the table, clearing
        the filter if it hides it, and highlight its marker."""
        if not 0 <= event_index < self.model.rowCount():
            return
        index = self._table_index(event_index)
        if not index.isValid():  # filtered out: show everything again
            self.filter_edit.clear()
            self._apply_filter()
            index = self._table_index(event_index)
        self._syncing = True
        try:
            self.table.selectionModel().setCurrentIndex(
                index,
                QItemSelectionModel.SelectionFlag.ClearAndSelect
                | QItemSelectionModel.SelectionFlag.Rows,
            )
            self.table.scrollTo(index, QAbstractItemView.ScrollHint.PositionAtCenter)
        finally:
            self._syncing = False
        self._set_selected(event_index, center=True)

    def _table_index(self, event_index: int) -> Any:
        return self.proxy.mapFromSource(self.model.index(self.model.row_of(event_index), 0))

    def current_event_index(self) -> int:
        """Event index of the table's current row, or -1."""
        index = self.table.currentIndex()
        if not index.isValid():
            return -1
        return self.model.event_index(self.proxy.mapToSource(index).row())

    def visible_events(self) -> list[HistoryEvent]:
        """The events the table shows, in its order (filtered and sorted): for exporting."""
        proxy, model = self.proxy, self.model
        return [model.event_in_row(proxy.mapToSource(proxy.index(row, 0)).row())
                for row in range(proxy.rowCount())]

    # -- table -> plot ---------------------------------------------------------------------

    def _table_selection_changed(self, *_args: object) -> None:
        if self._syncing:
            return
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            self._set_selected(-1, center=False)
            return
        source_row = self.proxy.mapToSource(rows[0]).row()
        self._set_selected(self.model.event_index(source_row), center=True)

    def _set_selected(self, event_index: int, center: bool) -> None:
        self._selected = event_index
        if center and event_index >= 0:
            self.center_on(self._times[event_index])
        self._draw_highlight()
        self.event_selected.emit(event_index)

    def center_on(self, when: float) -> None:
        """Pan the time axis so `when` is in the middle (keeping the zoom), if it is not in
        view already."""
        view = self.plot.getPlotItem().getViewBox()
        low, high = view.viewRange()[0]
        if low <= when <= high and high > low:
            return
        half = max((high - low) / 2, 60.0)
        view.setXRange(when - half, when + half, padding=0)

    @property
    def selected_event_index(self) -> int:
        """Event index of the selected event (the highlighted marker), or -1."""
        return self._selected

    # -- filter ----------------------------------------------------------------------------

    @Slot()
    def _apply_filter(self) -> None:
        self._filter_timer.stop()
        self.proxy.set_text(self.filter_edit.text())
        self._schedule_redraw()

    # -- lifetime --------------------------------------------------------------------------

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        self.refresh()
        self._refresh_timer.start()

    def hideEvent(self, event: Any) -> None:
        self._refresh_timer.stop()
        super().hideEvent(event)

    def closeEvent(self, event: Any) -> None:
        self._refresh_timer.stop()
        self._drop_reader()
        super().closeEvent(event)
