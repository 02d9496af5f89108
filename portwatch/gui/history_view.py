"""The History tab: a timeline of the listener count with opened/closed markers, above a
filterable table of the recorded events; selecting either one selects the other.

`HistoryView(store_path)` reads the history file through its own read-only connection
(core.history.HistoryReader, made in the GUI thread; the worker thread's HistoryStore writes).
`refresh()` reads only the events stored since the last read; `add_events(events)` takes events
from elsewhere (e.g. a MemoryHistory when the file could not be opened). Redraws are coalesced
with a single-shot timer, the table model only appends rows, and the plot draws at most
`MAX_MARKERS` markers, those in view, so a month of history stays smooth. Text from other
programs is shown as plain text, and escaped where Qt would read rich text (tooltips).
"""

from __future__ import annotations

import enum
import html
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import (
    QAbstractTableModel,
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    QTimer,
    Signal,
    Slot,
)
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

from portwatch.core.history import (
    CLOSED,
    OPENED,
    PRESENT,
    HistoryError,
    HistoryEvent,
    HistoryReader,
    OutdatedSchema,
)
from portwatch.core.text import visible

log = logging.getLogger(__name__)

REDRAW_DELAY_MS = 250  # updates within this time are drawn once
FILTER_DELAY_MS = 200
LOAD_CHUNK = 5000  # events read per step when loading
AUTO_REFRESH_MS = 5000  # how often a visible view looks for new events in the file
MAX_MARKERS = 3000  # markers drawn at once; more in view are thinned (selection always drawn)
OPENED_COLOR = (46, 160, 67)
CLOSED_COLOR = (218, 54, 51)
SELECTED_COLOR = (255, 196, 0)

IndexLike = QModelIndex | QPersistentModelIndex


def plain_tooltip(text: str) -> str:
    """A tooltip that shows `text` literally: Qt guesses rich text in tooltips, so escape it
    and mark it as rich text explicitly."""
    return "<qt>" + html.escape(text).replace("\n", "<br>") + "</qt>"


def describe_event(item: HistoryEvent) -> str:
    """Plain-text description of one event, for the hover label and tooltips."""
    sock = item.listener
    proc = sock.process
    who = f"{visible(proc.name, 60)} (pid {proc.pid})" if proc else "hidden owner"
    service = f", {visible(item.service, 40)}" if item.service else ""
    risk = f", risk {item.risk}" if item.risk else ""
    return (f"{item.iso_time}  {item.event}  {sock.proto.value} {sock.endpoint}  {who}"
            f"  {sock.exposure.label}{service}{risk}")


class Column(enum.IntEnum):
    TIME = 0
    EVENT = enum.auto()
    PROTO = enum.auto()
    ADDRESS = enum.auto()
    PORT = enum.auto()
    PID = enum.auto()
    PROCESS = enum.auto()
    EXPOSURE = enum.auto()
    SERVICE = enum.auto()
    RISK = enum.auto()

    @property
    def title(self) -> str:
        return self.name.capitalize() if self is not Column.PID else "PID"


SORT_ROLE = Qt.ItemDataRole.UserRole + 1  # native value for sorting
EVENT_ROLE = Qt.ItemDataRole.UserRole + 2  # the whole HistoryEvent


class HistoryEventModel(QAbstractTableModel):
    """The recorded events, oldest first. Rows are only ever appended (no reset per update)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._events: list[HistoryEvent] = []
        # Lower-case text of each row for the filter, made when the filter is first used.
        self._search: list[str] = []

    # -- data ------------------------------------------------------------------------------

    def rowCount(self, parent: IndexLike = QModelIndex()) -> int:  # noqa: B008 (Qt's API)
        return 0 if parent.isValid() else len(self._events)

    def columnCount(self, parent: IndexLike = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(Column)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return Column(section).title
        return None

    def data(self, index: IndexLike, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        item = self._events[index.row()]
        column = Column(index.column())
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(item, column)
        if role == SORT_ROLE:
            return self._native(item, column)
        if role == EVENT_ROLE:
            return item
        if role == Qt.ItemDataRole.ToolTipRole and column is Column.PROCESS:
            proc = item.listener.process
            if proc is not None:
                command = " ".join(proc.cmdline) or proc.name
                return plain_tooltip(visible(f"{command}\n{proc.exe or ''}".strip()))
        if role == Qt.ItemDataRole.ForegroundRole and column is Column.EVENT:
            color = {OPENED: OPENED_COLOR, CLOSED: CLOSED_COLOR}.get(item.event)
            return pg.mkColor(color) if color else None
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (Column.PORT, Column.PID):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    @staticmethod
    def _text(item: HistoryEvent, column: Column) -> str:
        sock = item.listener
        proc = sock.process
        if column is Column.TIME:
            return item.iso_time.replace("T", " ")
        if column is Column.EVENT:
            return item.event
        if column is Column.PROTO:
            return sock.proto.value
        if column is Column.ADDRESS:
            return sock.address
        if column is Column.PORT:
            return str(sock.port)
        if column is Column.PID:
            return str(proc.pid) if proc else ""
        if column is Column.PROCESS:
            return visible(proc.name, 60) if proc else ("(hidden)" if sock.owner_hidden else "")
        if column is Column.EXPOSURE:
            return sock.exposure.label
        if column is Column.SERVICE:
            return visible(item.service, 40) if item.service else ""
        return item.risk or ""

    @staticmethod
    def _native(item: HistoryEvent, column: Column) -> Any:
        sock = item.listener
        if column is Column.TIME:
            return item.time
        if column is Column.PORT:
            return sock.port
        if column is Column.PID:
            return sock.pid if sock.pid is not None else -1
        return HistoryEventModel._text(item, column)

    # -- updates ---------------------------------------------------------------------------

    def append(self, events: Sequence[HistoryEvent]) -> None:
        if not events:
            return
        first = len(self._events)
        self.beginInsertRows(QModelIndex(), first, first + len(events) - 1)
        self._events.extend(events)
        self.endInsertRows()

    @staticmethod
    def _search_text(item: HistoryEvent) -> str:
        sock = item.listener
        proc = sock.process
        parts = [item.event, sock.proto.value, sock.endpoint, sock.exposure.label,
                 item.service or "", item.risk or ""]
        if proc is not None:
            parts += [f"pid {proc.pid}", proc.name, proc.user or "", proc.exe or ""]
        return "\n".join(parts).lower()

    def event_at(self, row: int) -> HistoryEvent:
        return self._events[row]

    @property
    def events(self) -> list[HistoryEvent]:
        return self._events

    def matches(self, row: int, needle: str) -> bool:
        return needle in self.search_texts()[row]

    def search_texts(self) -> list[str]:
        """The filter text of every row (rows with the same listener share one string)."""
        if len(self._search) < len(self._events):
            cache: dict[tuple[Any, ...], str] = {}
            for item in self._events[len(self._search):]:
                key = (item.event, item.listener, item.service, item.risk)
                text = cache.get(key)
                if text is None:
                    text = cache[key] = self._search_text(item)
                self._search.append(text)
        return self._search


class EventFilterProxy(QSortFilterProxyModel):
    """Rows whose text contains the filter text (case-insensitive), sorted on native values."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._needle = ""
        self.setSortRole(SORT_ROLE)

    @property
    def needle(self) -> str:
        return self._needle

    def set_text(self, text: str) -> None:
        needle = text.strip().lower()
        if needle == self._needle:
            return
        if hasattr(self, "beginFilterChange"):  # Qt >= 6.10; invalidateFilter is deprecated
            self.beginFilterChange()
            self._needle = needle
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            self._needle = needle
            self.invalidateFilter()

    def filterAcceptsRow(self, source_row: int, source_parent: IndexLike) -> bool:
        if not self._needle:
            return True
        source = self.sourceModel()
        assert isinstance(source, HistoryEventModel)
        return source.matches(source_row, self._needle)


class HistoryView(QWidget):
    """Timeline plot of the listener count with event markers, and the event table."""

    event_selected = Signal(int)  # source row of the selected event, or -1

    def __init__(self, store_path: Path | str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store_path = Path(store_path)
        self._reader: HistoryReader | None = None
        self._last_id = 0
        self._selected = -1
        self._more_pending = False
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

    def _build(self) -> None:
        axis = pg.DateAxisItem(orientation="bottom")
        self.plot = pg.PlotWidget(axisItems={"bottom": axis})
        self.plot.setLabel("left", "listeners")
        self.plot.showGrid(x=False, y=True, alpha=0.15)
        self.plot.setMouseEnabled(x=True, y=False)
        self.plot.setMinimumHeight(160)
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
        header.setStretchLastSection(True)
        for column, chars in ((Column.TIME, 20), (Column.EVENT, 8), (Column.PROTO, 6),
                              (Column.ADDRESS, 16), (Column.PORT, 7), (Column.PID, 8),
                              (Column.PROCESS, 18), (Column.EXPOSURE, 14), (Column.SERVICE, 14)):
            self.table.setColumnWidth(column, self.table.fontMetrics().averageCharWidth() * chars)
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
        self._say("")
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
        self._schedule_redraw()

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
                np.asarray(self._kinds) != PRESENT,
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
        row = self._selected
        if 0 <= row < len(self._times):
            self.highlight.setData([self._times[row]], [self._counts[row]], data=[row])
        else:
            self.highlight.setData([], [])

    def marker_rows(self) -> list[int]:
        """Source rows whose markers are drawn now."""
        return self._shown_rows.tolist()

    def marker_spots(self) -> list[Any]:
        """The drawn marker spots (pyqtgraph SpotItems; spot.data() is the source row)."""
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

    def select_event(self, row: int) -> None:
        """Select source row `row` in the table (clearing the filter if it hides it) and
        highlight its marker."""
        if not 0 <= row < self.model.rowCount():
            return
        index = self.proxy.mapFromSource(self.model.index(row, 0))
        if not index.isValid():  # filtered out: show everything again
            self.filter_edit.clear()
            self._apply_filter()
            index = self.proxy.mapFromSource(self.model.index(row, 0))
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
        self._set_selected(row, center=True)

    # -- table -> plot ---------------------------------------------------------------------

    def _table_selection_changed(self, *_args: object) -> None:
        if self._syncing:
            return
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            self._set_selected(-1, center=False)
            return
        self._set_selected(self.proxy.mapToSource(rows[0]).row(), center=True)

    def _set_selected(self, row: int, center: bool) -> None:
        self._selected = row
        if center and row >= 0:
            self.center_on(self._times[row])
        self._draw_highlight()
        self.event_selected.emit(row)

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
        """Source row of the selected event (the highlighted marker), or -1."""
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
