"""The History tab widget against real history files: plot and table show the events, each
selects the other, hover text stays plain text, the table pages from SQLite (sort and filter
in SQL), follows new and pruned events without a reset, and dense markers fold with counts."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from portwatch.core import fields
from portwatch.core.model import (
    AnnotatedListener,
    Assessment,
    CatalogEntry,
    Exposure,
    Family,
    Listener,
    ProcessInfo,
    Proto,
    Risk,
    Snapshot,
)
from portwatch.core.monitor import Monitor
from portwatch.core.store.history import CLOSED, OPENED, PRESENT, HistoryEvent, HistoryStore
from portwatch.gui.models import history_model
from portwatch.gui.models.history_columns import Column
from portwatch.gui.views.history_plot import Marker
from portwatch.gui.views.history_view import HistoryView

HOSTILE = "<b>x</b><img src=y>"
T0 = 1_795_000_000.0  # November 2026


def listener(port: int, pid: int, name: str) -> Listener:
    return Listener(Proto.TCP, Family.IPV4, "127.0.0.1", port, Exposure.LOOPBACK,
                    ProcessInfo(pid, name, "alice", f"/usr/bin/{name}", (name, "--serve")))


class Annotator:
    def annotate(self, item: Listener) -> AnnotatedListener:
        return AnnotatedListener(item, CatalogEntry(item.port, item.proto, "svc"),
                                 Assessment(Risk.LOW, "loopback only"))


def write_history(path: Path) -> None:
    """Three polls: a baseline of two, then sshd closes and a hostile-named process opens, then
    a web server opens."""
    sshd, cups = listener(22, 10, "sshd"), listener(631, 11, "cupsd")
    evil, web = listener(4444, 12, HOSTILE), listener(8000, 13, "python3")
    scans = iter([Snapshot(T0, (sshd, cups)), Snapshot(T0 + 60, (cups, evil)),
                  Snapshot(T0 + 120, (cups, evil, web))])
    store = HistoryStore(path, clock=lambda: T0 + 200)
    monitor = Monitor(lambda: next(scans), Annotator(), history=store)
    for _ in range(3):
        assert not monitor.poll().problems
    store.close()


@pytest.fixture
def view(qtbot, tmp_path) -> HistoryView:
    path = tmp_path / "history.sqlite3"
    write_history(path)
    widget = HistoryView(path)
    qtbot.addWidget(widget)
    widget.resize(900, 600)
    widget.refresh()
    widget.flush()
    return widget


def kinds(view: HistoryView) -> list[str]:
    return [view.model.event_in_row(row).event for row in range(view.model.rowCount())]


def ports(view: HistoryView) -> list[int]:
    return [int(view.model.index(row, Column.PORT).data())
            for row in range(view.model.rowCount())]


def test_shows_the_events_of_a_real_store(view):
    assert kinds(view) == [PRESENT, PRESENT, CLOSED, OPENED, OPENED]
    assert [view.model.id_at(row) for row in range(5)] == [1, 2, 3, 4, 5]
    x, high, low = view.plot.line()
    assert x[:3] == [T0, T0 + 60, T0 + 120]
    assert high[:3] == [2, 2, 3] and low[:3] == [2, 1, 3]
    spots = view.marker_spots()  # single markers carry their event's id
    assert [(spot.x, spot.y, spot.data) for spot in spots] == [
        (T0 + 60, 1, 3), (T0 + 60, 2, 4), (T0 + 120, 3, 5)]
    texts = [view.model.index(3, column).data() for column in Column]
    assert texts[Column.EVENT] == "opened" and texts[Column.PORT] == "4444"
    assert texts[Column.PROCESS] == HOSTILE  # shown as text by the table (plain DisplayRole)
    assert texts[Column.RISK] == "Low" and texts[Column.SERVICE] == "svc"
    low, high = view.plot.x_range()
    assert low < T0 and high > T0 + 120  # the whole history, and a margin
    assert not view.plot.grab().isNull()


def test_the_columns_come_from_the_field_declarations(view):
    model = view.model
    headers = [model.headerData(c, Qt.Orientation.Horizontal) for c in range(model.columnCount())]
    assert headers == ["Time (local)", "Event", *(field.label for field in fields.HISTORY)]
    item = AnnotatedListener(view.model.event_in_row(3).listener)
    for number, field in enumerate(fields.HISTORY):
        if field.cell_tip is not None:  # the field's own tooltip, escaped
            tip = model.index(3, number + 2).data(Qt.ItemDataRole.ToolTipRole)
            assert "&lt;b&gt;x" in tip or HOSTILE not in "".join(field.cell_tip(item))
    right = [model.index(0, c).data(Qt.ItemDataRole.TextAlignmentRole)
             for c in range(model.columnCount())]
    assert [bool(a) for a in right[2:]] == [field.right for field in fields.HISTORY]


def test_model_passes_the_model_tester(view, qtmodeltester):
    qtmodeltester.check(view.model)
    view.model.sort(Column.PORT, Qt.SortOrder.DescendingOrder)  # sorted by a stored value
    qtmodeltester.check(view.model)
    view.model.set_filter("python3")  # and filtered
    qtmodeltester.check(view.model)


def test_selecting_a_row_highlights_its_marker(view, qtbot):
    with qtbot.waitSignal(view.event_selected) as signal:
        view.table.selectRow(4)
    assert signal.args == [5]
    assert view.selected_event_id == 5
    assert view.plot.highlight == (T0 + 120, 3)
    view.table.selectRow(0)  # a snapshot row has no marker, but its point is highlighted
    assert view.selected_event_id == 1
    assert view.plot.highlight == (T0, 2)


def test_clicking_a_marker_selects_its_row(view):
    spot = next(s for s in view.marker_spots() if s.data == 4)
    view.plot.click(spot)  # what a click on it calls
    assert view.current_event_id() == 4
    assert [i.row() for i in view.table.selectionModel().selectedRows()] == [3]
    assert view.selected_event_id == 4


def test_a_real_mouse_click_on_a_marker_selects_its_row(view, qtbot):
    view.show()
    qtbot.waitExposed(view)
    view.flush()
    spot = next(s for s in view.marker_spots() if s.data == 5)
    where = view.plot.to_pixels(spot.x, spot.y).toPoint()
    qtbot.mouseClick(view.plot, Qt.MouseButton.LeftButton, pos=where)
    qtbot.waitUntil(lambda: view.selected_event_id == 5, timeout=5000)
    assert view.current_event_id() == 5


def test_sorting_is_done_in_sql_and_keeps_the_selection(view):
    view.select_event(4)  # the hostile-named process on port 4444
    view.table.sortByColumn(Column.PORT, Qt.SortOrder.DescendingOrder)
    assert ports(view) == [8000, 4444, 631, 22, 22]
    assert view.current_event_id() == 4 and view.table.currentIndex().row() == 1
    view.table.selectRow(0)  # table -> plot in sorted order: the first row is port 8000
    assert view.selected_event_id == 5
    spot = next(s for s in view.marker_spots() if s.data == 3)  # sshd closed
    view.plot.click(spot)
    assert view.model.index(view.table.currentIndex().row(), Column.PORT).data() == "22"
    assert view.current_event_id() == 3
    view.table.sortByColumn(Column.PROCESS, Qt.SortOrder.AscendingOrder)
    names = [view.model.index(r, Column.PROCESS).data() for r in range(5)]
    assert names == sorted(names, key=str.lower)
    view.table.sortByColumn(-1, Qt.SortOrder.AscendingOrder)  # back to the recorded order
    assert ports(view) == [22, 631, 22, 4444, 8000]
    assert [e.listener.port for e in view.visible_events()] == [22, 631, 22, 4444, 8000]


def test_newest_first_follows_new_events_at_the_top(view):
    view.table.sortByColumn(Column.TIME, Qt.SortOrder.DescendingOrder)
    assert ports(view) == [8000, 4444, 22, 631, 22]
    resets = []
    view.model.modelReset.connect(lambda: resets.append(1))
    record(view.store_path, OPENED, 5000, T0 + 300, 4)
    view.refresh()
    assert ports(view) == [5000, 8000, 4444, 22, 631, 22] and not resets


def test_sorting_too_many_events_says_so_and_keeps_the_recorded_order(view, monkeypatch):
    monkeypatch.setattr(history_model, "SORT_MAX", 3)
    view.table.sortByColumn(Column.PORT, Qt.SortOrder.AscendingOrder)
    assert ports(view) == [22, 631, 22, 4444, 8000]
    assert "at most 3 events" in view.status_label.text()
    assert not view.status_label.isHidden()
    view.filter_edit.setText("22")  # narrowed down: it sorts
    view._apply_filter()
    view.table.sortByColumn(Column.PORT, Qt.SortOrder.DescendingOrder)
    assert ports(view) == [22, 22] and view.status_label.isHidden()


def test_hover_text_is_plain(view, qtbot):
    view.show()
    qtbot.waitExposed(view)
    view.flush()
    spot = next(s for s in view.marker_spots() if s.data == 4)
    qtbot.mouseMove(view.plot, view.plot.to_pixels(spot.x, spot.y).toPoint())
    qtbot.waitUntil(lambda: "4444" in view.hover_label.text(), timeout=5000)
    assert view.hover_label.textFormat() == Qt.TextFormat.PlainText
    assert HOSTILE in view.hover_label.text() and "4444" in view.hover_label.text()
    tip = view.plot.toolTip()
    assert "<b>x" not in tip and "&lt;b&gt;x&lt;/b&gt;&lt;img src=y&gt;" in tip
    view.plot.hovered.emit([])  # the pointer left the markers
    assert view.plot.toolTip() == ""
    process_tip = view.model.index(3, Column.PROCESS).data(Qt.ItemDataRole.ToolTipRole)
    assert "<b>" not in process_tip.removeprefix("<qt>") and "&lt;b&gt;" in process_tip


def test_the_filter_is_searched_in_sql(view, qtbot):
    view.filter_edit.setText("python3")
    qtbot.waitUntil(lambda: view.model.rowCount() == 1 and not view.loading, timeout=5000)
    assert view.model.id_at(0) == 5
    view.filter_edit.setText("CLOSED")  # the event's kind, case-insensitively
    qtbot.waitUntil(lambda: view.model.rowCount() == 1 and view.model.id_at(0) == 3,
                    timeout=5000)
    view.select_event(4)  # selecting an event the filter hides shows everything again
    assert view.filter_edit.text() == "" and view.model.rowCount() == 5
    assert view.current_event_id() == 4


def record(path: Path, kind: str, port: int, when: float, count: int) -> None:
    store = HistoryStore(path, clock=lambda: when + 100)
    store.record_events([HistoryEvent.of(kind, when, AnnotatedListener(
        listener(port, port, "python3")), count)], new_run=True)
    store.close()


def test_refresh_appends_new_events_without_reset(view, qtbot):
    resets, inserted = [], []
    view.model.modelReset.connect(lambda: resets.append(1))
    view.model.rowsInserted.connect(lambda _p, first, last: inserted.append((first, last)))
    view.filter_edit.setText("python3")
    view._apply_filter()
    assert view.model.rowCount() == 1
    resets.clear()
    before = view.redraws
    record(view.store_path, CLOSED, 8000, T0 + 300, 2)
    view.refresh()
    view.refresh()  # nothing new the second time
    assert kinds(view) == [OPENED, CLOSED] and inserted[-1] == (1, 1)
    assert not resets
    qtbot.waitUntil(lambda: view.redraws > before, timeout=5000)
    assert view.plot.line()[2][-1] == 2


def test_events_deleted_by_retention_leave_as_rows(view):
    removed = []
    view.model.rowsRemoved.connect(lambda _p, first, last: removed.append((first, last)))
    store = HistoryStore(view.store_path, clock=lambda: T0 + 200, retention_days=100 / 86400)
    store.close()  # at open it deleted what is 100 s older than the newest event
    view.refresh()
    assert removed == [(0, 1)] and ports(view) == [22, 4444, 8000]


def test_updates_are_coalesced(view, qtbot):
    qtbot.waitUntil(lambda: not view._redraw_timer.isActive(), timeout=5000)
    before = view.redraws
    for i in range(5):
        record(view.store_path, OPENED, 6000 + i, T0 + 300 + i, 4 + i)
        view.refresh()
    qtbot.waitUntil(lambda: view.redraws == before + 1, timeout=5000)
    qtbot.wait(400)
    assert view.redraws == before + 1 and view.model.rowCount() == 10


def test_no_file_yet_says_so(qtbot, tmp_path):
    widget = HistoryView(tmp_path / "missing.sqlite3")
    qtbot.addWidget(widget)
    widget.refresh()
    assert "No history recorded yet" in widget.status_label.text()
    assert widget.model.rowCount() == 0
    assert not (tmp_path / "missing.sqlite3").exists()


def test_damaged_file_is_reported_not_raised(qtbot, tmp_path):
    path = tmp_path / "history.sqlite3"
    path.write_bytes(b"nope" * 1000)
    widget = HistoryView(path)
    qtbot.addWidget(widget)
    widget.refresh()
    assert "is damaged" in widget.status_label.text()
    assert path.read_bytes() == b"nope" * 1000


def test_a_long_history_is_paged_and_its_dense_markers_fold(qtbot, tmp_path):
    """Made with SQL (tests/history_fill.py): every event is a row, but only the pages
    looked at are read, and the markers fold without losing one from their counts."""
    import history_fill

    path = tmp_path / "history.sqlite3"
    count = 20_000
    history_fill.fill_history(path, count, span=86400.0, end=T0)
    widget = HistoryView(path)
    qtbot.addWidget(widget)
    widget.resize(1000, 700)
    widget.show()
    qtbot.waitExposed(widget)
    widget.flush()
    model = widget.model
    assert model.rowCount() == count
    assert model.id_at(count - 1) == count
    assert len(model._pages) <= history_model.PAGES_KEPT
    for row in range(0, count, 997):  # scrolling through all of it keeps the cap
        assert model.index(row, Column.EVENT).data() in (OPENED, CLOSED)
    assert len(model._pages) <= history_model.PAGES_KEPT
    spots = widget.marker_spots()
    folds = [s.data for s in spots if isinstance(s.data, Marker)]
    assert folds and len(spots) < 200
    opened = sum(s.data.count if isinstance(s.data, Marker) else 1 for s in spots
                 if s.kind == OPENED)
    assert opened == count // 2
    fold = folds[0]
    spot = next(s for s in spots if s.data is fold)
    widget.plot.click(spot)  # a fold zooms in on its time
    low, high = widget.plot.x_range()
    assert low <= fold.start and fold.end <= high and high - low < 86400 / 2
    widget.select_event(count - 1)
    assert widget.current_event_id() == count - 1


def test_new_events_arrive_at_their_sorted_place(view):
    view.table.sortByColumn(Column.PORT, Qt.SortOrder.DescendingOrder)
    view.select_event(3)
    resets = []
    view.model.modelReset.connect(lambda: resets.append(1))
    record(view.store_path, OPENED, 5000, T0 + 300, 4)
    view.refresh()
    assert ports(view) == [8000, 5000, 4444, 631, 22, 22] and not resets
    assert view.current_event_id() == 3  # the selection stayed with its event
    view.table.sortByColumn(Column.PORT, Qt.SortOrder.AscendingOrder)
    sorted_again = len(resets)
    record(view.store_path, OPENED, 700, T0 + 400, 5)
    view.refresh()
    assert ports(view) == [22, 22, 631, 700, 4444, 5000, 8000]
    assert len(resets) == sorted_again


def test_a_file_with_missing_ids_shows_the_events_there_are(qtbot, tmp_path):
    """Retention of schema 2 deleted by time, so an upgraded file can lack ids between its
    first and last: the table lists the events there are, not blank rows."""
    import sqlite3

    from portwatch.core.store.history_timeline import rebuild_timeline

    path = tmp_path / "history.sqlite3"
    write_history(path)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    conn.execute("DELETE FROM events WHERE id IN (2, 4)")
    rebuild_timeline(conn)
    conn.execute("COMMIT")
    conn.close()
    widget = HistoryView(path)
    qtbot.addWidget(widget)
    widget.refresh()
    assert [widget.model.id_at(row) for row in range(widget.model.rowCount())] == [1, 3, 5]
    assert ports(widget) == [22, 22, 8000]
    record(path, OPENED, 5000, T0 + 300, 3)
    widget.refresh()
    assert ports(widget) == [22, 22, 8000, 5000]


def test_the_filter_finds_the_events_of_a_remote_host_by_its_name(qtbot, tmp_path):
    """A remote host's name is kept in the owner JSON of its events (not a column of its own):
    the filter finds them by it, as the Listeners filter does, and not this machine's."""
    path = tmp_path / "history.sqlite3"
    store = HistoryStore(path, clock=lambda: T0 + 100)
    here = listener(8080, 20, "python3")
    there = Listener(Proto.TCP, Family.IPV4, "0.0.0.0", 8080, Exposure.ALL_INTERFACES,
                     ProcessInfo(30, "python3", "bob", "/usr/bin/python3", ("python3",)),
                     host="admin@web-1.example")
    hidden_there = Listener(Proto.UDP, Family.IPV4, "0.0.0.0", 5353, Exposure.ALL_INTERFACES, None,
                            owner_hidden=True, hidden_reason="needs root",
                            host="admin@web-1.example")
    store.record_events([HistoryEvent.of(OPENED, T0 + i, AnnotatedListener(item), 1)
                         for i, item in enumerate((here, there, hidden_there))], new_run=True)
    store.close()
    view = HistoryView(path)
    qtbot.addWidget(view)
    view.refresh()
    view.flush()
    assert view.model.rowCount() == 3
    for needle in ("web-1", "WEB-1.Example", "admin@"):
        view.filter_edit.setText(needle)
        qtbot.waitUntil(lambda: not view.loading and view.model.rowCount() == 2, timeout=5000)
        assert [view.model.event_in_row(row).listener.host for row in range(2)] == [
            "admin@web-1.example"] * 2
    view.filter_edit.setText("web-2")
    qtbot.waitUntil(lambda: not view.loading and view.model.rowCount() == 0, timeout=5000)


def test_the_charts_markers_follow_the_filter(view, qtbot, monkeypatch):
    """Filtered, the markers are the filter's events only (counted in SQL); the line stays
    every listener's. Past FILTERED_MAX events in view they are every event's, said."""
    from portwatch.core.store import history_timeline

    def spots() -> list[tuple[float, float, object]]:
        view.flush()
        return [(spot.x, spot.y, spot.data) for spot in view.marker_spots()]

    line = view.plot.line()
    assert spots() == [(T0 + 60, 1, 3), (T0 + 60, 2, 4), (T0 + 120, 3, 5)]
    view.filter_edit.setText("python3")  # the web server that opened
    qtbot.waitUntil(lambda: view.model.rowCount() == 1 and not view.loading, timeout=5000)
    assert spots() == [(T0 + 120, 3, 5)]
    assert view.plot.line() == line and not view.status_label.isVisibleTo(view)
    assert view.plot.accessibleDescription().endswith("only the events the filter finds are"
                                                      " marked")
    view.filter_edit.setText("SSHD")  # its present event has no marker, its close has
    qtbot.waitUntil(lambda: view.model.rowCount() == 2 and not view.loading, timeout=5000)
    assert spots() == [(T0 + 60, 1, 3)]
    view.filter_edit.setText("nothing matches this")
    qtbot.waitUntil(lambda: view.model.rowCount() == 0 and not view.loading, timeout=5000)
    assert spots() == [] and view.plot.line() == line
    monkeypatch.setattr(history_timeline, "FILTERED_MAX", 4)  # 5 events in view: too many
    view.filter_edit.setText("python3")
    qtbot.waitUntil(lambda: view.model.rowCount() == 1 and not view.loading, timeout=5000)
    assert len(spots()) == 3
    assert view.status_label.text().startswith("The chart marks every event: more than")
    view.filter_edit.clear()
    qtbot.waitUntil(lambda: view.model.rowCount() == 5, timeout=5000)
    assert len(spots()) == 3 and view.status_label.text() == ""
