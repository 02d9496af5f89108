"""The History tab: a timeline of the listener count with opened/closed markers, above a
filterable table of the recorded events; selecting either one selects the other.

`HistoryView(store_path)` reads the history file through its own read-only connection
(core.store.history.HistoryReader, made in the GUI thread; the worker thread's HistoryStore
writes). Nothing of the file is held in memory beyond what is shown: the table pages its rows
from SQLite (models/history_model.py: sort and filter in SQL) and the timeline draws counts per
column of pixels counted in SQL (history_plot.py, painted without a plotting library), so
five million events open as fast as five thousand. While the table is filtered, the chart's
markers are the filter's events only (also counted in SQL, when at most FILTERED_MAX events
are in view: else every event's, and the tab says so); the line stays the number of all
listeners. `refresh()` takes in what was recorded since the last look (the window calls it
after each poll; a timer too, for a `watch` that records); redraws are coalesced with a
single-shot timer. Events are named by their id (`seq` in the JSON): the argument of
`select_event()` and of the `event_selected` signal. Text from other programs is shown as
plain text, and escaped where Qt would read rich text (tooltips).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QItemSelectionModel, Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QLineEdit,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from portwatch.core import fields
from portwatch.core.store.history import (
    FILTERED_MAX,
    HistoryError,
    HistoryEvent,
    HistoryReader,
    OutdatedSchema,
)
from portwatch.gui.models.history_columns import WIDTH_SAMPLES, Column, describe_event
from portwatch.gui.models.history_model import HistoryEventModel
from portwatch.gui.style.plain import plain_tooltip
from portwatch.gui.views.column_chooser import ColumnChooser
from portwatch.gui.views.history_plot import HistoryPlot, Marker, Spot

log = logging.getLogger(__name__)

REDRAW_DELAY_MS = 250  # updates within this time are drawn once
FILTER_DELAY_MS = 200
AUTO_REFRESH_MS = 2000  # how often a visible view looks for new events (also after each poll)
PLOT_DESCRIPTION = ("The number of listeners over time; a triangle up for each that opened, down"
                    " for each that closed; a bigger one with a number for many")
_HISTORY_FIELDS = {Column(number + 2): field for number, field in enumerate(fields.HISTORY)}


class HistoryView(QWidget):
    """Timeline plot of the listener count with event markers, and the event table."""

    event_selected = Signal(int)  # id of the selected event, or -1

    def __init__(self, store_path: Path | str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store_path = Path(store_path)
        self._reader: HistoryReader | None = None
        self._selected: HistoryEvent | None = None
        self._syncing = False  # True while the table follows the plot (no feedback loop)
        self._problem = ""
        self._chart_note = ""  # why the markers are not the filter's only, when they are not
        self.redraws = 0  # how many times the plot was redrawn (for tests and tuning)
        self.model = HistoryEventModel(self)
        self.model.note_changed.connect(lambda _note: self._show_status())
        self._kept_selection = -1  # the event selected before the rows were read again
        self.model.modelAboutToBeReset.connect(self._remember_selection)
        self.model.selected_again.connect(self._restore_selection)
        self._build()
        self._redraw_timer = self._timer(REDRAW_DELAY_MS, self._redraw, single=True)
        self._filter_timer = self._timer(FILTER_DELAY_MS, self._apply_filter, single=True)
        self._refresh_timer = self._timer(AUTO_REFRESH_MS, self.refresh, single=False)

    def _timer(self, interval: int, slot: Any, single: bool) -> QTimer:
        timer = QTimer(self)
        timer.setSingleShot(single)
        timer.setInterval(interval)
        timer.timeout.connect(slot)
        return timer

    # -- layout ----------------------------------------------------------------------------

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange) \
                and hasattr(self, "plot"):
            self.plot.update()  # it paints in the palette's colours, light or dark

    def _build(self) -> None:
        self.plot = HistoryPlot()
        self.plot.event_clicked.connect(self.select_event)
        self.plot.hovered.connect(self._hovered)
        self.plot.range_changed.connect(self._schedule_redraw)
        self.plot.setAccessibleName("Listeners over time")
        self.plot.setAccessibleDescription(PLOT_DESCRIPTION)
        self.hover_label = QLabel(" ")
        self.hover_label.setTextFormat(Qt.TextFormat.PlainText)
        self.status_label = QLabel("")
        self.status_label.setTextFormat(Qt.TextFormat.PlainText)
        self.status_label.setWordWrap(True)
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter events: process, port, address, service…")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.setAccessibleName("Filter events")
        self.filter_edit.textChanged.connect(lambda _text: self._filter_timer.start())
        self.table = self._table()

        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(self.plot)
        top_layout.addWidget(self.hover_label)
        bottom = QWidget()
        bottom_layout = QVBoxLayout(bottom)
        bottom_layout.setContentsMargins(0, 0, 0, 0)
        bottom_layout.addWidget(self.filter_edit)
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

    def _table(self) -> QTableView:
        table = QTableView()
        table.setObjectName("historyTable")  # its columns are remembered by that name
        table.setAccessibleName("Recorded events")
        table.setModel(self.model)
        # No sort column at first: rows in the order they were recorded (oldest first); a
        # header click sorts in SQL on the stored values.
        table.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        table.setSortingEnabled(True)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setWordWrap(False)
        table.verticalHeader().setVisible(False)
        table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        table.verticalHeader().setDefaultSectionSize(table.fontMetrics().height() + 6)
        header = table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        metrics = table.fontMetrics()
        for column in Column:
            if column in WIDTH_SAMPLES:
                table.setColumnWidth(column, metrics.horizontalAdvance(WIDTH_SAMPLES[column]) + 18)
            else:
                table.setColumnWidth(column, _HISTORY_FIELDS[column].width)
        # The spare width goes to Service (Risk, last, does not take it and cut Service)
        self.columns = ColumnChooser(table, stretch=(Column.SERVICE,), keep=(Column.TIME,))
        table.selectionModel().selectionChanged.connect(self._table_selection_changed)
        return table

    # -- reading ---------------------------------------------------------------------------

    @Slot()
    def refresh(self) -> None:
        """Open the file the first time, then take in what was recorded since (new rows, a
        redraw); a problem with the file is said above the plot, never raised."""
        try:
            if self._reader is None:
                self._reader = HistoryReader(self.store_path)
                self.model.set_reader(self._reader)
                self._problem = ""
                self._show_status()
                self._redraw()
                self.table.scrollToBottom()  # the newest events
                return
            bar = self.table.verticalScrollBar()
            at_end = bar.value() >= bar.maximum()
            if self.model.follow():
                self._schedule_redraw()
                if at_end:  # the newest events stay in view while they come
                    self.table.scrollToBottom()
        except FileNotFoundError:
            self._problem = f"No history recorded yet ({self.store_path})."
        except OutdatedSchema:
            self._problem = ("The history file is being upgraded; it is shown once portwatch"
                             " has recorded with it.")
        except Exception as exc:  # a view must never take the application down
            log.warning("history view: %s", exc)
            self._problem = (str(exc) if isinstance(exc, HistoryError)
                             else f"Cannot read the history file {self.store_path}: {exc}")
            self._drop_reader()
        self._show_status()

    def _show_status(self) -> None:
        text = self._problem or " ".join(note for note in (self.model.note, self._chart_note)
                                         if note)
        self.status_label.setText(text)
        self.status_label.setVisible(bool(text))

    def _drop_reader(self) -> None:
        if self._reader is not None:
            self.model.set_reader(None)
            self._reader.close()
            self._reader = None

    @property
    def loading(self) -> bool:
        """True while the filter is still searching the file."""
        return self.model.scanning

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

    def time_range(self) -> tuple[float, float] | None:
        """The times the plot shows: the whole history (and a margin), or its zoom."""
        if not self.plot.auto:
            return self.plot.x_range()
        span = self._reader.span() if self._reader is not None else None
        if span is None:
            return None
        low, high = span
        margin = max((high - low) * 0.02, 30.0)
        return low - margin, high + margin

    def _redraw(self) -> None:
        self.redraws += 1
        shown = self.time_range()
        if self._reader is None or shown is None:
            self.plot.draw([], 0.0, 1.0, None)
            return
        t0, t1 = shown
        columns = self.plot.pixels()
        buckets = self._reader.buckets(t0, t1, columns)
        markers, note = None, ""
        if self.model.needle:
            markers = self._reader.matching_buckets(t0, t1, columns, self.model.needle)
            if markers is None:
                note = (f"The chart marks every event: more than {FILTERED_MAX:,} are in view,"
                        " too many to search while drawing; zoom in to mark only those the"
                        " filter finds.")
        self.plot.draw(buckets, t0, t1, buckets[-1].high if buckets else None, markers)
        self.plot.setAccessibleDescription(PLOT_DESCRIPTION + (
            "; only the events the filter finds are marked" if markers is not None else ""))
        if note != self._chart_note:
            self._chart_note = note
            self._show_status()
        self._draw_highlight()

    def _draw_highlight(self) -> None:
        item = self._selected
        self.plot.set_highlight((item.time, item.listeners) if item is not None else None)

    def marker_spots(self) -> list[Spot]:
        """The drawn markers (`data`: a single event's id, or a folded Marker)."""
        return self.plot.spots()

    @Slot(object)
    def _hovered(self, markers: list) -> None:
        lines = []
        for data in markers[:3]:
            if isinstance(data, Marker):
                lines.append(data.describe())
            else:
                found = self.model.event_by_id(int(data))
                lines.append(describe_event(found) if found else f"event {data}")
        if len(markers) > 3:
            lines.append(f"… and {len(markers) - 3} more")
        text = "\n".join(lines)
        self.hover_label.setText(text or " ")  # PlainText label
        self.plot.setToolTip(plain_tooltip(text) if text else "")

    # -- plot -> table ---------------------------------------------------------------------

    @Slot(int)
    def select_event(self, event_id: int) -> None:
        """Select event `event_id` in the table (clearing the filter if it hides it) and
        highlight it on the plot."""
        row = self.model.row_of(event_id)
        if row < 0 and self.model.needle:
            self.filter_edit.clear()
            self._apply_filter()
            row = self.model.row_of(event_id)
        if row < 0:
            return
        index = self.model.index(row, 0)
        self._syncing = True
        try:
            self.table.selectionModel().setCurrentIndex(
                index, QItemSelectionModel.SelectionFlag.ClearAndSelect
                | QItemSelectionModel.SelectionFlag.Rows)
            self.table.scrollTo(index, QAbstractItemView.ScrollHint.PositionAtCenter)
        finally:
            self._syncing = False
        self._set_selected(self.model.event_in_row(row))

    def current_event_id(self) -> int:
        """Id of the table's current row's event, or -1."""
        index = self.table.currentIndex()
        return self.model.id_at(index.row()) if index.isValid() else -1

    def visible_events(self) -> list[HistoryEvent]:
        """The events the table shows, in its order (filtered and sorted): for exporting."""
        found = (self.model.event_in_row(row) for row in range(self.model.rowCount()))
        return [item for item in found if item is not None]

    def _remember_selection(self) -> None:
        self._kept_selection = self.selected_event_id

    def _restore_selection(self) -> None:
        """After another sort or filter: the same event stays selected when it is shown."""
        kept, self._kept_selection = self._kept_selection, -1
        if kept >= 0 and self.model.row_of(kept) >= 0:
            self.select_event(kept)

    # -- table -> plot ---------------------------------------------------------------------

    def _table_selection_changed(self, *_args: object) -> None:
        if self._syncing:
            return
        rows = self.table.selectionModel().selectedRows()
        self._set_selected(self.model.event_in_row(rows[0].row()) if rows else None)

    def _set_selected(self, item: HistoryEvent | None) -> None:
        self._selected = item
        if item is not None:
            self.center_on(item.time)
        self._draw_highlight()
        self.event_selected.emit(item.id if item is not None and item.id is not None else -1)

    def center_on(self, when: float) -> None:
        """Pan the time axis so `when` is in the middle (keeping the zoom), if it is not in
        view already."""
        low, high = self.plot.x_range()
        if low <= when <= high and high > low:
            return
        half = max((high - low) / 2, 60.0)
        self.plot.set_x_range(when - half, when + half)

    @property
    def selected_event_id(self) -> int:
        """Id of the selected event (the highlighted one), or -1."""
        item = self._selected
        return item.id if item is not None and item.id is not None else -1

    # -- filter ----------------------------------------------------------------------------

    @Slot()
    def _apply_filter(self) -> None:
        self._filter_timer.stop()
        self.model.set_filter(self.filter_edit.text())
        self._schedule_redraw()  # the markers follow the filter

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
