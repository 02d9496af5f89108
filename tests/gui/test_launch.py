"""Launch: the window's first table comes before the alert rules and the history, it shows what
a full scan shows (also from a stale saved owner map), and what is built after the first frame
(alerts, tray, notifier, channels) still gets the first poll's alerts. Real listener processes,
real scanners, the real program; no timing assertions (the figure is in tests/perf/bench.py)."""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import threading
import time

import pytest
from children import end_child
from gui_rows import Recorder
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QApplication, QWidget

from portwatch.core.files import paths
from portwatch.core.monitor import Monitor
from portwatch.core.probe import ListenerScanner
from portwatch.core.store.settings import Settings
from portwatch.gui import worker as worker_module
from portwatch.gui.app import PortwatchGui, _set_alert_rules, build_monitor, history_hooks
from portwatch.gui.desktop.first_frame import AfterFirstFrame, EarlyPolls
from portwatch.gui.worker import MonitorThread


def ours(rows, pids: set[int]) -> set[tuple]:
    """What a person reads in a row (socket, pid, program) for the listeners of our children
    (rows are Listeners or AnnotatedListeners)."""
    found = set()
    for row in rows:
        sock = getattr(row, "listener", row)
        if sock.pid in pids:
            found.add((sock.proto, sock.address, sock.port, sock.pid, sock.process.name))
    return found


def saved_pids(path) -> set[int]:
    return {pid for _inode, pid, _fd in json.loads(path.read_text())["holders"]}


@pytest.fixture
def long_hold(monkeypatch):
    """The worker waits for the window as long as a test needs (a loaded machine may take
    seconds to draw), so what happens before the window says "shown" is deterministic."""
    monkeypatch.setattr(worker_module, "FIRST_ROWS_HOLD", 120.0)


def test_the_first_table_reaches_the_window_before_alert_rules_and_history(
        qtbot, listener_factory, tmp_path, long_hold):
    child = listener_factory()
    scanner = ListenerScanner(owner_cache=tmp_path / "owner-map.json")
    monitor, catalog, problems = build_monitor(scanner)
    settings = Settings(poll_interval=60)
    _set_alert_rules(monitor, settings)
    setup, teardown = history_hooks(monitor, settings, scanner)
    gui = PortwatchGui(settings, monitor, catalog, problems, setup=setup, teardown=teardown)
    qtbot.addWidget(gui.window)
    seen: list[tuple[str, object, object]] = []  # (signal, result, history at that moment)
    early, whole = Recorder(), Recorder()
    early.recorded.connect(lambda result: seen.append(("rows", result, monitor.history)))
    whole.recorded.connect(lambda result: seen.append(("polled", result, monitor.history)))
    gui.worker.rows_ready.connect(early.record)
    gui.worker.polled.connect(whole.record)
    try:
        with qtbot.waitSignal(whole.recorded):
            gui.start(show=False)
        kind, first, history = seen[0]
        assert kind == "rows" and history is None  # the history opens after the window drew
        assert first.first and first.alerts == ()
        assert [kind for kind, _, _ in seen] == ["rows", "polled"]
        _, full, history = seen[1]
        assert history is not None and full.first
        assert [row.key for row in full.rows] == [row.key for row in first.rows]
        assert ours(first.rows, {child.pid}) == {
            ("tcp", "127.0.0.1", child.port, child.pid, first_name(first, child.pid))}
        shown = {gui.window.model.item_at(row).key for row in range(gui.window.model.rowCount())}
        assert shown == {row.key for row in full.rows}
    finally:
        gui.shutdown()


def first_name(result, pid: int) -> str:
    return next(row.listener.process.name for row in result.rows if row.listener.pid == pid)


def test_the_window_shows_what_a_full_scan_shows_from_a_stale_saved_map(
        qtbot, listener_factory, tmp_path):
    cache = tmp_path / "owner-map.json"
    gone, stays = listener_factory(), listener_factory("udp")
    earlier = ListenerScanner(owner_cache=cache)  # an earlier run of the window or `list`
    earlier.scan()
    earlier.close()
    assert {gone.pid, stays.pid} <= saved_pids(cache)
    gone.stop()  # since then: one listener's process ended, a new one started
    new = listener_factory("tcp", "::1")
    shown = first_table(qtbot, cache)
    full = ListenerScanner(fast=False).scan()  # the portable path, no map at all
    pids = {gone.pid, stays.pid, new.pid}
    assert ours(shown, pids) == ours(full.listeners, pids)
    assert {row.pid for row in shown if row.pid in pids} == {stays.pid, new.pid}
    assert (new.port, new.pid) in {(row.port, row.pid) for row in shown}
    assert new.pid in saved_pids(cache)  # the window saved its own map when it stopped


def first_table(qtbot, cache) -> list:
    """The listeners a window whose scanner starts from `cache` shows after its first poll
    (the window is closed again, which saves its owner map there)."""
    scanner = ListenerScanner(owner_cache=cache)
    monitor, catalog, problems = build_monitor(scanner)
    gui = PortwatchGui(Settings(poll_interval=60), monitor, catalog, problems,
                       teardown=scanner.close)
    qtbot.addWidget(gui.window)
    polls = Recorder()
    gui.worker.polled.connect(polls.record)
    try:
        with qtbot.waitSignal(polls.recorded):
            gui.start(show=False)
        model = gui.window.model
        return [model.item_at(row).listener for row in range(model.rowCount())]
    finally:
        gui.shutdown()


def test_the_first_poll_waits_for_the_window_and_a_shutdown_does_not(qtbot, long_hold):
    opened = threading.Event()
    scans = []

    def scan():
        from gui_rows import listener

        from portwatch.core.model import Snapshot

        scans.append(1)
        return Snapshot(time.time(), (listener(1000 + len(scans)),))

    owner = MonitorThread(Monitor(scan), interval=60, setup=lambda: opened.set(),
                          hold_first_rows=True)
    rows = Recorder()
    owner.worker.rows_ready.connect(rows.record)
    with qtbot.waitSignal(rows.recorded):
        owner.start()
    assert not opened.is_set()  # held: the window has not said it drew the rows
    assert owner.shutdown(timeout=60)  # stopping releases the hold
    assert opened.is_set()  # the history still opened (and closed) in the worker


def test_the_modules_loaded_before_qt_do_not_load_qt():
    code = ("import sys; from portwatch.gui.desktop import launch; import importlib;"
            " [importlib.import_module(name) for name in launch.BEFORE_QT];"
            " print(sorted(m for m in sys.modules if m.startswith('PySide6')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"  # else PySide6's import hook would read their sources anyway


def test_opening_the_window_imports_no_command_module():
    code = ("import sys; from portwatch import cli; cli.build_parser(cli._command_module([]));"
            " print(sorted(m for m in sys.modules if m.startswith('portwatch.commands.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
    usage = subprocess.run([sys.executable, "-m", "portwatch", "--help"], capture_output=True,
                           text=True, check=True).stdout
    assert all(name in usage for name in ("list", "lookup", "watch", "history", "metrics"))


class Program:
    """The real `portwatch --debug` window (offscreen); a thread reads its log lines."""

    def __init__(self) -> None:
        env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
        self.proc = subprocess.Popen([sys.executable, "-m", "portwatch", "--debug"], env=env,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, pattern: str, deadline: float = 120.0) -> str:
        """The next log line matching `pattern` (the lines before it are kept in `lines`)."""
        end = time.monotonic() + deadline
        while (left := end - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            self.lines.append(line)
            if re.search(pattern, line):
                return line
        raise AssertionError(f"no line matching {pattern!r}:\n" + "\n".join(self.lines[-20:]))

    def quit(self) -> None:
        end_child(self.proc, 30)  # our own child, by its PID: it quits as File > Quit does
        self._reader.join(10)  # it reads to the end of the pipe, then stops
        self.proc.stderr.close()
        while (line := self._queue.get_nowait() if not self._queue.empty() else None):
            self.lines.append(line)


def test_alerts_built_after_the_first_frame_still_tell_the_first_polls_news(
        listener_factory, isolated_dirs):
    config, data = isolated_dirs
    (config / "settings.yaml").write_text("poll_interval: 1\nnotifications: false\n",
                                          encoding="utf-8")
    known = listener_factory()  # listening before the first run
    first = Program()  # the first run ever learns what listens (the baseline)
    try:
        first.wait_for(r"first poll: \d+ listening")
    finally:
        first.quit()
    assert first.proc.returncode == 0, "\n".join(first.lines[-20:])
    owner_map = next(data.glob("owner-map-*.json"))  # saved when the window quit
    assert known.pid in saved_pids(owner_map)
    assert paths.history_file().exists()

    child = listener_factory()  # appears while portwatch is not running
    second = Program()
    try:
        second.wait_for(r"table populated: \d+ rows")
        # Alerts (tray, notifier, banner) are built after the table was shown ...
        second.wait_for(r"notifications: |no system tray|tray icon shown")
        second.wait_for(r"first poll: \d+ listening")
        # ... and still tell what the first poll found: the listener that appeared meanwhile.
        alert = second.wait_for(r"(?i)alert: .*(opened while portwatch was not running"
                                rf"|port {child.port}/tcp)")
    finally:
        second.quit()
    assert second.proc.returncode == 0
    assert "Traceback" not in "\n".join(second.lines)
    assert "risk; shown at monotonic" in alert


class FakeWorker(QObject):
    """Stands in for MonitorWorker's signals, emitted in the test's thread (no poll runs)."""

    polled = Signal(object)
    rows_ready = Signal(object)
    failed = Signal(str)


def test_polls_that_came_before_the_late_parts_are_handed_to_them_in_order(qtbot):
    worker = FakeWorker()
    early = EarlyPolls(worker)
    worker.polled.emit("first poll")
    worker.polled.emit("second poll")
    got: list[object] = []
    early.polled.connect(got.append)  # the alerts, built after the first frame
    assert got == []
    early.hand_over()
    worker.polled.emit("third poll")
    assert got == ["first poll", "second poll", "third poll"]  # each once, in order


def test_the_late_parts_are_built_once_also_when_the_first_poll_failed(qtbot):
    class Gui:
        window = QWidget()
        worker = FakeWorker()

    built: list[int] = []
    AfterFirstFrame(Gui, lambda: built.append(1))  # type: ignore[arg-type]
    Gui.worker.failed.emit("The scan failed")
    qtbot.waitUntil(lambda: built == [1])
    Gui.worker.polled.emit("a later poll")
    Gui.worker.rows_ready.emit("rows")
    for _ in range(3):  # a second build would have run in these turns of the event loop
        QApplication.processEvents()
    assert built == [1]
    Gui.window.deleteLater()


def test_a_first_poll_started_before_the_window_waits_for_its_listeners(qtbot, long_hold):
    from gui_rows import listener

    from portwatch.core.model import Snapshot

    scanned = threading.Event()

    def scan():
        scanned.set()
        return Snapshot(time.time(), (listener(4321),))

    gui = PortwatchGui(Settings(poll_interval=60), Monitor(scan), early=True)
    qtbot.addWidget(gui.window)
    rows, polls = Recorder(), Recorder()  # connected after the worker started scanning
    gui.worker.rows_ready.connect(rows.record)
    gui.worker.polled.connect(polls.record)
    try:
        qtbot.waitUntil(scanned.is_set)
        for _ in range(3):
            QApplication.processEvents()
        assert rows.items == [] and polls.items == []  # held until start()
        with qtbot.waitSignal(polls.recorded):
            gui.start(show=False)
        assert [item.listener.port for item in rows.items[0].rows] == [4321]
        assert gui.window.model.rowCount() == 1
    finally:
        gui.shutdown()
    assert not gui.monitor_thread.thread.isRunning()


@pytest.mark.parametrize("saved", ["not json at all {", '{"format": 999, "holders": []}'])
def test_a_broken_saved_map_means_a_cold_first_scan_not_a_wrong_table(
        qtbot, listener_factory, tmp_path, saved):
    cache = tmp_path / "owner-map.json"
    cache.write_text(saved, encoding="utf-8")
    cache.chmod(0o600)
    child = listener_factory()
    shown = first_table(qtbot, cache)
    assert ours(shown, {child.pid}) == ours(ListenerScanner(fast=False).scan().listeners,
                                            {child.pid}) != set()
    assert child.pid in saved_pids(cache)  # replaced by a good map at exit


def test_while_the_first_scan_runs_the_window_says_so_and_shows_no_partial_rows(
        qtbot, listener_factory):
    child = listener_factory()
    may_finish = threading.Event()
    scanning = threading.Event()
    scanner = ListenerScanner()

    def slow_first_scan():  # the real scan, held until the test has looked at the window
        scanning.set()
        may_finish.wait(60)
        return scanner.scan()

    gui = PortwatchGui(Settings(poll_interval=60), Monitor(slow_first_scan), early=True)
    qtbot.addWidget(gui.window)
    polls = Recorder()
    gui.worker.polled.connect(polls.record)
    try:
        gui.start(show=True)
        qtbot.waitUntil(scanning.is_set)
        QApplication.processEvents()
        assert gui.window.status.counts.text() == "Scanning…"
        assert gui.window.model.rowCount() == 0  # no socket without its owner, no guess
        may_finish.set()
        with qtbot.waitSignal(polls.recorded):
            pass
        shown = [gui.window.model.item_at(row).listener
                 for row in range(gui.window.model.rowCount())]
        assert ours(shown, {child.pid}) == ours(ListenerScanner(fast=False).scan().listeners,
                                                {child.pid}) != set()
        assert "Scanning" not in gui.window.status.counts.text()
    finally:
        may_finish.set()
        gui.shutdown()
        scanner.close()


def test_the_garbage_collector_waits_until_the_first_frame(isolated_dirs):
    # Its passes over what a launch builds (all of it lives as long as the window) were
    # 60-75 ms of the launch; after the first frame it collects once, freezes and is on again.
    config, _data = isolated_dirs
    (config / "settings.yaml").write_text("poll_interval: 1\nnotifications: false\n",
                                          encoding="utf-8")
    program = Program()
    try:
        off = program.wait_for(r"garbage collector off until the first frame, after \d+ passes")
        program.wait_for(r"table populated: \d+ rows")
        on = program.wait_for(r"after the first frame: \d+ garbage collector passes since start,"
                              r" \d+ objects frozen, the collector on")
    finally:
        program.quit()
    assert program.proc.returncode == 0, "\n".join(program.lines[-20:])
    before = int(re.search(r"after (\d+) passes", off).group(1))
    during = int(re.search(r"frame: (\d+) garbage", on).group(1))
    assert during == before  # not one pass between the imports and the first frame
    assert int(re.search(r"(\d+) objects frozen", on).group(1)) > 0
