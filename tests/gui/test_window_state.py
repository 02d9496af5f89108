"""The window's size, splitters and columns come back after a restart (window-state.json); a
broken or foreign file is ignored and the window opens as by default."""

from __future__ import annotations

import json

import pytest
from gui_rows import catalog
from PySide6.QtCore import Qt

from portwatch.core.files import paths
from portwatch.core.store.settings import Settings
from portwatch.gui.models.listener_model import Column
from portwatch.gui.views.main_window import MainWindow
from portwatch.gui.views.window_state import load_window_state, save_window_state


def window(qtbot) -> MainWindow:
    made = MainWindow(Settings(), catalog())
    qtbot.addWidget(made)
    return made


def arrange(first: MainWindow) -> None:
    first.resize(700, 520)
    first.show()
    first.splitter.setSizes([420, 150])
    first.table.setColumnWidth(Column.PROCESS, 222)
    first.table.sortByColumn(Column.PORT, Qt.SortOrder.AscendingOrder)


def test_size_splitter_and_columns_come_back(qtbot, tmp_path):
    path = tmp_path / "config" / "window-state.json"
    first = window(qtbot)
    arrange(first)
    sizes, size = first.splitter.sizes(), first.size()
    assert save_window_state(first, path)
    saved = json.loads(path.read_text())
    assert set(saved["splitters"]) >= {"listenersSplitter"}
    assert [p.name for p in path.parent.iterdir()] == ["window-state.json"]  # no temp left

    second = window(qtbot)
    assert second.size() != size
    assert load_window_state(second, path)
    second.show()
    assert second.size() == size
    assert second.splitter.sizes() == sizes
    assert second.table.columnWidth(Column.PROCESS) == 222
    header = second.table.horizontalHeader()
    assert (header.sortIndicatorSection(), header.sortIndicatorOrder()) == \
        (Column.PORT, Qt.SortOrder.AscendingOrder)


def test_the_history_table_keeps_its_columns_but_opens_unsorted(qtbot, tmp_path):
    from portwatch.gui.views.history_view import HistoryView

    def with_history() -> MainWindow:
        made = window(qtbot)
        made.add_tab(HistoryView(tmp_path / "none.sqlite3"), "History")
        return made

    path = tmp_path / "window-state.json"
    first = with_history()
    view = first.history_view()
    view.table.setColumnWidth(1, 171)
    view.table.sortByColumn(1, Qt.SortOrder.DescendingOrder)
    save_window_state(first, path)
    second = with_history()
    assert load_window_state(second, path)
    table = second.history_view().table
    assert table.columnWidth(1) == 171
    assert table.horizontalHeader().sortIndicatorSection() == -1


@pytest.mark.parametrize("content", [
    b"", b"{not json", b"\xff\xfe", b"[1, 2]", b'{"format": 99, "geometry": "AAAA"}',
    b'{"format": 1, "geometry": "%%%", "splitters": {"listenersSplitter": 5},'
    b' "headers": {"listenerTable": {"columns": 3, "state": "AAAA"}}}',
    b'{"format": 1, "geometry": "AAAAAAAA", "state": "AAAA",'
    b' "splitters": {"listenersSplitter": "AAAAAAAA"}}',
])
def test_a_broken_file_is_ignored(qtbot, tmp_path, content):
    path = tmp_path / "window-state.json"
    path.write_bytes(content)
    made = window(qtbot)
    default = (made.size(), made.splitter.sizes(), made.table.columnWidth(Column.PROCESS))
    assert load_window_state(made, path) is False
    assert (made.size(), made.splitter.sizes(), made.table.columnWidth(Column.PROCESS)) \
        == default


def test_columns_saved_by_another_version_are_ignored(qtbot, tmp_path):
    path = tmp_path / "window-state.json"
    first = window(qtbot)
    arrange(first)
    save_window_state(first, path)
    saved = json.loads(path.read_text())
    saved["headers"]["listenerTable"]["columns"] += 1
    path.write_text(json.dumps(saved))
    second = window(qtbot)
    load_window_state(second, path)
    assert second.table.columnWidth(Column.PROCESS) != 222


def test_the_application_saves_at_shutdown_and_restores_at_start(qtbot):
    from portwatch.core.model import Snapshot
    from portwatch.core.monitor import Monitor
    from portwatch.gui.app import PortwatchGui

    path = paths.window_state_file()  # in the test's own config dir
    assert path.parent.name == "config"

    def run() -> PortwatchGui:
        gui = PortwatchGui(Settings(poll_interval=60), Monitor(lambda: Snapshot(0.0, ())),
                           window_state_path=path)
        qtbot.addWidget(gui.window)
        gui.start()
        return gui

    first = run()
    first.window.resize(first.window.width(), 430)  # the offscreen screen is 800×600
    first.shutdown()
    assert path.is_file()
    second = run()
    try:
        assert second.window.height() == 430
    finally:
        second.shutdown()


def test_an_unwritable_folder_is_logged_not_raised(qtbot, tmp_path, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert save_window_state(window(qtbot), blocker / "window-state.json") is False
    assert "cannot save" in caplog.text


def test_the_state_file_is_private_whatever_the_umask(qtbot, tmp_path):
    import os
    import stat

    path = tmp_path / "new" / "config" / "window-state.json"
    previous = os.umask(0)
    try:
        assert save_window_state(window(qtbot), path)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    for folder in (path.parent, path.parent.parent):
        assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
