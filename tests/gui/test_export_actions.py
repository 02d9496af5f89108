"""File > Export listeners… and Export history… from a real window: the files parse, hold what
the tables show with the fields of `list --json`, neutralise formula cells in CSV, and a failed
export says why in a message box and leaves nothing behind."""

from __future__ import annotations

import csv
import errno
import json
import os
from pathlib import Path

import pytest
from gui_rows import Recorder, ScriptedMonitor, catalog, listener
from PySide6.QtWidgets import QMessageBox

from portwatch.core.files import atomic
from portwatch.core.model import Snapshot
from portwatch.core.monitor import Monitor
from portwatch.core.output import export, records
from portwatch.core.store.history import HistoryStore
from portwatch.core.store.settings import Settings
from portwatch.gui.app import PortwatchGui, build_monitor
from portwatch.gui.models.filter_proxy import ListenerFilter
from portwatch.gui.models.listener_model import ROW_ROLE
from portwatch.gui.views.export_actions import CSV_FILTER, JSON_FILTER, save_dialog
from portwatch.gui.views.history_view import HistoryView
from portwatch.gui.views.main_window import MainWindow

HOSTILE = "=cmd|' /C calc'!A0"


class PathAnswer:
    """Stands in for the save dialog: answers `path` with `name_filter` and keeps the title."""

    def __init__(self, path: Path | str, name_filter: str = CSV_FILTER) -> None:
        self.path = str(path)
        self.name_filter = name_filter
        self.titles: list[str] = []
        self.suggested: list[str] = []

    def __call__(self, _parent, title: str, suggested: str) -> tuple[str, str]:
        self.titles.append(title)
        self.suggested.append(suggested)
        return self.path, self.name_filter


@pytest.fixture
def window(qtbot):
    win = MainWindow(Settings())
    qtbot.addWidget(win)
    scripted = ScriptedMonitor()
    win.apply_poll(scripted.poll([
        listener(22, address="0.0.0.0", pid=812, name="sshd", cmdline=("sshd", "-D")),
        listener(8080, pid=4242, name=HOSTILE, cmdline=(HOSTILE, "--port", "8080"),
                 exe="/tmp/=calc"),
        listener(53, "udp", pid=None),
        listener(3389, address="0.0.0.0", pid=977, name="xrdp", user="root"),
    ]))
    yield win
    win.shutdown()


def run_export(qtbot, win: MainWindow, action) -> object:
    with qtbot.waitSignal(win.exports.finished, timeout=10_000) as blocker:
        action.trigger()
    return blocker.args[0]


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def expected_csv_row(record: dict) -> dict[str, str]:
    return {name: str(export.csv_cell(name, record[name])) for name in export.LISTENER_FIELDS}


def test_listeners_as_csv_match_the_table_and_neutralise_formulas(qtbot, window, tmp_path):
    target = tmp_path / "listeners.csv"
    window.exports.ask_path = answer = PathAnswer(target)
    assert run_export(qtbot, window, window.exports.listeners_action) == target
    shown, total = window.shown_listeners()
    assert total == 4 and len(shown) == 4
    assert answer.titles == ["Export listeners: all 4 listeners"]
    rows = read_csv(target)
    assert list(rows[0]) == list(export.LISTENER_FIELDS)
    assert rows == [expected_csv_row(records.listener_record(item)) for item in shown]
    hostile = next(row for row in rows if row["port"] == "8080")
    assert hostile["process"] == "'" + HOSTILE  # a spreadsheet shows it, never runs it
    assert hostile["cmdline"].startswith("'")
    assert not any(cell.startswith(("=", "+", "-", "@"))
                   for row in rows for cell in row.values())
    assert f"Exported 4 listeners to {target}" in window.statusBar().currentMessage()


def test_listeners_as_json_are_what_list_json_prints_in_table_order(qtbot, window, tmp_path):
    target = tmp_path / "listeners.json"
    window.exports.ask_path = PathAnswer(target, JSON_FILTER)
    run_export(qtbot, window, window.exports.listeners_action)
    shown, _total = window.shown_listeners()
    data = json.loads(target.read_text(encoding="utf-8"))
    assert data == [records.listener_record(item) for item in shown]
    assert [item["port"] for item in data] == [
        window.proxy.index(row, 0).data(ROW_ROLE).listener.port
        for row in range(window.proxy.rowCount())]  # the table's own order
    assert next(item for item in data if item["port"] == 8080)["process"] == HOSTILE


def test_a_real_scan_exports_the_real_listener(qtbot, listener_factory, tmp_path):
    child = listener_factory("tcp", "127.0.0.1")
    monitor, catalog, problems = build_monitor()
    gui = PortwatchGui(Settings(poll_interval=0.2), monitor, catalog, problems,
                       settings_path=tmp_path / "settings.yaml", min_interval=0.2)
    qtbot.addWidget(gui.window)
    recorder = Recorder()
    gui.worker.polled.connect(recorder.record)
    try:
        with qtbot.waitSignal(recorder.recorded, timeout=20_000):
            gui.start()
        window = gui.window
        qtbot.waitUntil(lambda: any(item.listener.pid == child.pid
                                    for item in window.shown_listeners()[0]), timeout=20_000)
        window.pause_action.setChecked(True)  # the table holds still while we compare
        window.filter_bar.all_netns.setChecked(True)  # other namespaces' too: every row shown
        qtbot.wait(300)
        for name, name_filter in (("real.json", JSON_FILTER), ("real.csv", CSV_FILTER)):
            window.exports.ask_path = PathAnswer(tmp_path / name, name_filter)
            run_export(qtbot, window, window.exports.listeners_action)
        shown, total = window.shown_listeners()
        assert len(shown) == total >= 1
        data = json.loads((tmp_path / "real.json").read_text(encoding="utf-8"))
        assert data == [records.listener_record(item) for item in shown]
        mine = next(item for item in data if item["pid"] == child.pid)
        assert (mine["proto"], mine["address"], mine["port"], mine["exposure"]) == (
            "tcp", "127.0.0.1", child.port, "loopback")
        rows = read_csv(tmp_path / "real.csv")
        assert rows == [expected_csv_row(records.listener_record(item)) for item in shown]
    finally:
        gui.shutdown()


def test_a_filtered_table_exports_what_is_shown_and_says_so(qtbot, window, tmp_path):
    window.filter_bar.set_filter(ListenerFilter(network_only=True))
    target = tmp_path / "reachable.json"
    window.exports.ask_path = answer = PathAnswer(target, JSON_FILTER)
    run_export(qtbot, window, window.exports.listeners_action)
    assert answer.titles == ["Export listeners: the 2 listeners shown by the filter (of 4)"]
    data = json.loads(target.read_text(encoding="utf-8"))
    assert sorted(item["port"] for item in data) == [22, 3389]


def test_the_chosen_filter_gives_a_name_without_an_ending_its_format(qtbot, window, tmp_path):
    window.exports.ask_path = PathAnswer(tmp_path / "table", JSON_FILTER)
    result = run_export(qtbot, window, window.exports.listeners_action)
    assert result == tmp_path / "table.json"
    assert len(json.loads(result.read_text(encoding="utf-8"))) == 4
    # the name's own ending wins over the filter
    window.exports.ask_path = PathAnswer(tmp_path / "table.csv", JSON_FILTER)
    assert read_csv(run_export(qtbot, window, window.exports.listeners_action))


def test_closed_rows_still_red_are_not_exported(qtbot, tmp_path):
    win = MainWindow(Settings())
    qtbot.addWidget(win)
    scripted = ScriptedMonitor()
    ssh, web = listener(22, pid=1), listener(80, pid=2)
    win.apply_poll(scripted.poll([ssh, web]))
    win.apply_poll(scripted.poll([ssh]))  # web closed: its row stays red for a while
    assert win.model.rowCount() == 2
    win.exports.ask_path = PathAnswer(tmp_path / "open.json", JSON_FILTER)
    run_export(qtbot, win, win.exports.listeners_action)
    assert [item["port"] for item in json.loads((tmp_path / "open.json").read_text())] == [22]
    win.shutdown()


def failure_box(win: MainWindow) -> QMessageBox:
    boxes = [box for box in win.findChildren(QMessageBox)
             if box.objectName() == "exportFailedBox" and box.isVisible()]
    assert len(boxes) == 1
    return boxes[0]


@pytest.fixture
def out(tmp_path) -> Path:
    """An empty folder for the exports."""
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


def test_a_folder_that_cannot_be_written_gives_a_clear_message(qtbot, window, out):
    not_a_folder = out / "file.txt"
    not_a_folder.write_text("x")
    target = not_a_folder / "listeners.csv"
    window.exports.ask_path = PathAnswer(target)
    result = run_export(qtbot, window, window.exports.listeners_action)
    assert isinstance(result, OSError)
    box = failure_box(window)
    assert str(target) in box.text() and "could not be written" in box.text()
    assert "Nothing was written" in box.informativeText()
    assert os.listdir(out) == ["file.txt"]
    assert window.exports.listeners_action.isEnabled()  # ready for another try


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_gives_a_clear_message(qtbot, window, tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        window.exports.ask_path = PathAnswer(folder / "x.csv")
        assert isinstance(run_export(qtbot, window, window.exports.listeners_action),
                          PermissionError)
        assert "Permission denied" in failure_box(window).text()
        assert os.listdir(folder) == []
    finally:
        folder.chmod(0o700)


def test_a_full_disk_leaves_the_old_file_and_no_partial_one(qtbot, window, out, monkeypatch):
    target = out / "listeners.json"
    target.write_text("the previous export\n")

    def disk_full(_fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic.os, "fsync", disk_full)  # the data reaches the disk here
    window.exports.ask_path = PathAnswer(target, JSON_FILTER)
    result = run_export(qtbot, window, window.exports.listeners_action)
    assert isinstance(result, OSError) and result.errno == errno.ENOSPC
    assert "No space left on device" in failure_box(window).text()
    assert target.read_text() == "the previous export\n"
    assert os.listdir(out) == ["listeners.json"]  # no temporary file left


def test_cancelling_the_dialog_writes_nothing(qtbot, window, out):
    window.exports.ask_path = answer = PathAnswer("")
    window.exports.folder = str(out)
    window.exports.listeners_action.trigger()
    qtbot.wait(50)
    assert answer.suggested[0].startswith(str(out / "portwatch-listeners-"))
    assert os.listdir(out) == []
    assert window.exports.listeners_action.isEnabled()


def test_the_save_dialog_offers_csv_and_json(qtbot, tmp_path):
    dialog = save_dialog(None, "Export listeners: all 4 listeners", str(tmp_path / "x.csv"))
    qtbot.addWidget(dialog)
    assert dialog.nameFilters() == [CSV_FILTER, JSON_FILTER]
    assert dialog.defaultSuffix() == "csv"
    assert [Path(name).name for name in dialog.selectedFiles()] == ["x.csv"]
    dialog.selectNameFilter(JSON_FILTER)
    dialog.filterSelected.emit(JSON_FILTER)
    assert dialog.defaultSuffix() == "json"
    assert [Path(name).name for name in dialog.selectedFiles()] == ["x.json"]  # follows


# -- history --------------------------------------------------------------------------------

T0 = 1_795_000_000.0


def history_file(path: Path) -> None:
    """A baseline of two listeners, then the hostile-named one opens and sshd closes."""
    sshd = listener(22, pid=10, name="sshd")
    cups = listener(631, pid=11, name="cupsd")
    evil = listener(4444, pid=12, name=HOSTILE, cmdline=(HOSTILE,))
    scans = iter([Snapshot(T0, (sshd, cups)), Snapshot(T0 + 60, (cups, evil))])
    store = HistoryStore(path, clock=lambda: T0 + 500)
    monitor = Monitor(lambda: next(scans), catalog(), history=store)
    for _ in range(2):
        assert not monitor.poll().problems
    store.close()


@pytest.fixture
def history_window(qtbot, window, tmp_path):
    path = tmp_path / "history.sqlite3"
    history_file(path)
    view = HistoryView(path)
    window.add_tab(view, "History")
    view.refresh()
    qtbot.waitUntil(lambda: view.model.rowCount() == 4 and not view.loading, timeout=10_000)
    return window, view


def test_history_as_csv_holds_the_visible_events(qtbot, history_window, tmp_path):
    win, view = history_window
    target = tmp_path / "out" / "events.csv"
    target.parent.mkdir()
    win.exports.ask_path = answer = PathAnswer(target)
    win.exports.update_enabled()
    assert win.exports.history_action.isEnabled()
    run_export(qtbot, win, win.exports.history_action)
    assert answer.titles == ["Export history: all 4 events"]
    rows = read_csv(target)
    assert list(rows[0]) == list(export.EVENT_FIELDS)
    assert [(row["event"], row["port"]) for row in rows] == [
        ("present", "22"), ("present", "631"), ("closed", "22"), ("opened", "4444")]
    expected = [export.history_record(item) for item in view.visible_events()]
    assert rows == [{name: str(export.csv_cell(name, record[name]))
                     for name in export.EVENT_FIELDS} for record in expected]
    assert rows[3]["process"] == "'" + HOSTILE


def test_history_export_follows_the_tabs_filter(qtbot, history_window, tmp_path):
    win, view = history_window
    view.filter_edit.setText("sshd")
    qtbot.waitUntil(lambda: view.model.rowCount() == 2 and not view.loading, timeout=5_000)
    target = tmp_path / "ssh.json"
    win.exports.ask_path = answer = PathAnswer(target, JSON_FILTER)
    run_export(qtbot, win, win.exports.history_action)
    assert answer.titles == ["Export history: the 2 events matching “sshd” (of 4)"]
    data = json.loads(target.read_text(encoding="utf-8"))
    assert data == [export.history_record(item) for item in view.visible_events()]
    assert [(item["event"], item["process"]) for item in data] == [
        ("present", "sshd"), ("closed", "sshd")]


def test_without_a_history_tab_history_export_is_off(window):
    window.file_menu.aboutToShow.emit()
    assert window.exports.listeners_action.isEnabled()
    assert not window.exports.history_action.isEnabled()
    assert [a.text() for a in window.file_menu.actions() if a.text()] == [
        "Export &listeners…", "Export &history…", "&Add host…", "&Remove host",
        "Alerts &from host", "&Quit"]


def test_a_history_too_long_to_export_at_once_says_what_to_do(qtbot, history_window,
                                                               monkeypatch, tmp_path):
    from portwatch.gui.views import export_actions

    win, view = history_window
    monkeypatch.setattr(export_actions, "HISTORY_EXPORT_MAX", 3)
    win.exports.ask_path = answer = PathAnswer(tmp_path / "all.json", JSON_FILTER)
    win.exports.history_action.trigger()
    assert answer.titles == []  # no dialog: nothing would be written
    assert "shows 4 events" in win.statusBar().currentMessage()
    assert "portwatch history --json" in win.statusBar().currentMessage()
    view.filter_edit.setText("sshd")  # narrowed down: it exports
    qtbot.waitUntil(lambda: view.model.rowCount() == 2 and not view.loading, timeout=5_000)
    run_export(qtbot, win, win.exports.history_action)
    assert len(json.loads((tmp_path / "all.json").read_text(encoding="utf-8"))) == 2
