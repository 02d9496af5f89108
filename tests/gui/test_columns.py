"""Columns: the spare width goes to Known uses and Security notes (not First seen); columns are
shown, hidden and moved from the header's menu or View > Columns, and come back after a
restart; in History, Service gets the room, not Risk."""

from __future__ import annotations

from gui_rows import FixedCatalog, ScriptedMonitor, listener
from test_history_view import write_history

from portwatch.core.store.settings import Settings
from portwatch.gui.models.history_columns import Column as HistoryColumn
from portwatch.gui.models.listener_model import Column
from portwatch.gui.views.history_view import HistoryView
from portwatch.gui.views.main_window import COLUMN_WIDTHS, MainWindow
from portwatch.gui.views.window_state import load_window_state, save_window_state


def make_window(qtbot) -> MainWindow:
    window = MainWindow(Settings(), FixedCatalog())
    qtbot.addWidget(window)
    window.apply_poll(ScriptedMonitor().poll([listener(22), listener(80)]))
    return window


def test_a_wide_window_gives_the_room_to_uses_and_notes(qtbot):
    window = make_window(qtbot)
    window.resize(1900, 900)
    window.show()
    qtbot.waitExposed(window)
    qtbot.waitUntil(lambda: window.table.columnWidth(Column.USES) > COLUMN_WIDTHS[Column.USES],
                    timeout=5000)
    table = window.table
    assert table.columnWidth(Column.SECURITY) > COLUMN_WIDTHS[Column.SECURITY]
    assert table.columnWidth(Column.FIRST_SEEN) == COLUMN_WIDTHS[Column.FIRST_SEEN]
    header = table.horizontalHeader()
    used = sum(header.sectionSize(i) for i in range(header.count()))
    assert abs(used - table.viewport().width()) <= len(Column)  # filled, no sideways scroll
    window.resize(900, 700)  # narrow: they keep their starting width and the table scrolls
    qtbot.waitUntil(lambda: table.columnWidth(Column.USES) == COLUMN_WIDTHS[Column.USES],
                    timeout=5000)


def test_columns_hidden_and_moved_from_the_menu_come_back(qtbot, tmp_path):
    first = make_window(qtbot)
    first.show()
    chooser = first.columns
    menu = chooser.menu
    menu.aboutToShow.emit()  # what opening View > Columns does
    by_text = {action.text(): action for action in menu.actions()}
    assert by_text["User"].isChecked() and not by_text["Port"].isEnabled()  # Port stays
    by_text["User"].trigger()
    assert first.table.isColumnHidden(Column.USER)
    first.table.setCurrentIndex(first.proxy.index(0, Column.PROCESS))
    menu.aboutToShow.emit()
    move_left = next(a for a in menu.actions() if a.text() == "Move “Process” left")
    move_left.trigger()
    header = first.table.horizontalHeader()
    assert header.visualIndex(Column.PROCESS) == Column.PORT  # swapped with Port
    path = tmp_path / "window-state.json"
    assert save_window_state(first, path)

    second = make_window(qtbot)
    assert load_window_state(second, path)
    assert second.table.isColumnHidden(Column.USER)
    assert second.table.horizontalHeader().visualIndex(Column.PROCESS) == Column.PORT
    second.columns.reset()
    assert not second.table.isColumnHidden(Column.USER)
    assert second.table.horizontalHeader().visualIndex(Column.PROCESS) == Column.PROCESS


def test_the_history_table_gives_the_room_to_service_not_risk(qtbot, tmp_path):
    path = tmp_path / "history.sqlite3"
    write_history(path)
    view = HistoryView(path)
    qtbot.addWidget(view)
    view.resize(1600, 700)
    view.show()
    qtbot.waitExposed(view)
    table = view.table
    qtbot.waitUntil(lambda: table.columnWidth(HistoryColumn.SERVICE)
                    > view.columns.base[HistoryColumn.SERVICE], timeout=5000)
    assert table.columnWidth(HistoryColumn.RISK) < table.columnWidth(HistoryColumn.SERVICE)
