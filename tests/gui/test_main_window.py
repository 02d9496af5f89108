"""The main window with a real worker and real sockets: rows come and go, the details pane
investigates, untrusted names stay text, terminate is identity-checked."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import socket
import subprocess
import sys
import time

import psutil
import pytest
from gui_rows import Recorder
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import QApplication, QLabel, QMessageBox

from portwatch.core.fields import FLAG_MARKER
from portwatch.core.model import Family, ListenerKey, Proto
from portwatch.core.probe.procinfo import TerminateOutcome
from portwatch.core.store.settings import Settings
from portwatch.gui.app import PortwatchGui, build_monitor
from portwatch.gui.models.listener_model import Column, RowState
from portwatch.gui.views.details_pane import confirm_terminate
from portwatch.gui.views.report import COMPUTING


@pytest.fixture
def gui(qtbot, tmp_path):
    monitor, catalog, problems = build_monitor()
    app = PortwatchGui(Settings(poll_interval=0.2), monitor, catalog, problems,
                       settings_path=tmp_path / "settings.yaml", min_interval=0.2)
    qtbot.addWidget(app.window)
    app.recorder = Recorder()
    app.polls = app.recorder.items
    app.worker.polled.connect(app.recorder.record)
    yield app
    app.shutdown()
    assert not app.monitor_thread.thread.isRunning()


def key_of(child) -> ListenerKey:
    family = Family.IPV6 if ":" in child.host else Family.IPV4
    return ListenerKey(Proto(child.proto), family, child.host, child.port, child.pid)


def start_and_wait_first_poll(qtbot, gui) -> None:
    with qtbot.waitSignal(gui.recorder.recorded, timeout=20_000):
        gui.start()


def rendered(rich_text: str) -> str:
    doc = QTextDocument()
    doc.setHtml(rich_text)
    return doc.toPlainText()


def test_a_new_socket_appears_within_two_polls_and_leaves_after_closing(
        qtbot, gui, listener_factory):
    start_and_wait_first_poll(qtbot, gui)
    model = gui.window.model
    child = listener_factory("tcp", "127.0.0.1")
    listening = time.time()  # the child said it listens: any scan started from now sees it
    key = key_of(child)
    qtbot.waitUntil(lambda: model.row_of(key) is not None, timeout=20_000)
    qtbot.waitUntil(lambda: sum(r.snapshot.taken_at - r.duration >= listening
                                for r in gui.polls) >= 2, timeout=20_000)
    # Judged by when each scan ran, not when its result reached this thread (results of
    # earlier scans may still have been queued).
    later = [r for r in gui.polls if r.snapshot.taken_at - r.duration >= listening]
    assert key in later[0].row_map or key in later[1].row_map
    row = model.row_of(key)
    assert model.state_at(row) is RowState.NEW
    assert model.index(row, Column.PORT).data() == str(child.port)
    assert model.index(row, Column.PID).data() == str(child.pid)

    child.stop()
    qtbot.waitUntil(lambda: model.row_of(key) is not None
                    and model.state_at(model.row_of(key)) is RowState.CLOSING, timeout=20_000)
    qtbot.waitUntil(lambda: model.row_of(key) is None, timeout=20_000)
    counts = gui.window.status.counts.text()
    # Other parts ("… in other network namespaces") follow when this machine has namespaces.
    assert re.match(r"\d+ listening · \d+ reachable from the network( · |$)", counts), counts


def test_details_pane_shows_catalog_facts_for_a_real_listener(qtbot, gui, listener_factory):
    probe = socket.socket()
    try:
        probe.bind(("127.0.0.1", 3141))
    except OSError as exc:
        pytest.skip(f"127.0.0.1:3141 is in use here ({exc}); the test needs it free")
    finally:
        probe.close()
    child = listener_factory("tcp", "127.0.0.1", 3141)
    start_and_wait_first_poll(qtbot, gui)
    window = gui.window
    qtbot.waitUntil(lambda: window.model.row_of(key_of(child)) is not None, timeout=20_000)
    assert window.select_listener(key_of(child))
    pane = window.details
    entry = gui.window.catalog.lookup(3141, "tcp")
    qtbot.waitUntil(lambda: COMPUTING not in pane.view.toPlainText(), timeout=20_000)
    text = pane.view.toPlainText()
    assert "VMODEM" in text and "vmodem" in text
    for use in entry.uses:
        assert use.software in text
    for note in entry.security:
        assert note.title in text
    assert "devpi" in text or not any("devpi" in u.software for u in entry.uses)
    assert item_risk_reason(window) in text
    exe = psutil.Process(child.pid).exe()
    with open(exe, "rb") as handle:
        assert hashlib.sha256(handle.read()).hexdigest() in text
    assert f"({os.getpid()})" in text  # the parent chain names this test process
    assert "127.0.0.1:3141 LISTEN" in text  # the process's sockets
    if entry.refs:
        assert f'href="{entry.refs[0]}"' in pane.view.toHtml().replace("&amp;", "&")


def item_risk_reason(window) -> str:
    item = window.details.item
    assert item is not None and item.assessment is not None
    return item.assessment.reason


NAMED_LISTENER = """
import ctypes, socket, sys
name = sys.argv[1].encode()
if name:  # PR_SET_NAME = 15: the process name (comm) may hold any character, "/" included
    ctypes.CDLL(None, use_errno=True).prctl(15, ctypes.c_char_p(name), 0, 0, 0)
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen()
print(s.getsockname()[1], flush=True)
sys.stdin.read()
"""


@pytest.fixture
def named_listener(tmp_path):
    """Start a loopback listener whose process name is hostile text; ended by PID afterwards.
    `via="symlink"` runs the interpreter through a symlink of that name (a name without "/");
    `via="prctl"` has the process rename itself (Linux), which allows "<b>x</b>"."""
    started: list[subprocess.Popen] = []

    def start(name: str, via: str) -> tuple[subprocess.Popen, int]:
        real = os.path.realpath(sys.executable)
        if via == "symlink":
            link = tmp_path / name
            link.symlink_to(real)
            argv = [str(link), "-c", NAMED_LISTENER, ""]
        else:
            if not sys.platform.startswith("linux"):
                pytest.skip("renaming a process with prctl needs Linux")
            argv = [real, "-c", NAMED_LISTENER, name]
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        started.append(proc)
        port = int(proc.stdout.readline())
        return proc, port

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(5)
        proc.stdin.close()
        proc.stdout.close()


@pytest.mark.parametrize(("name", "via"), [("<b>x</b>", "prctl"), ("<img src=x>", "symlink")])
def test_an_html_named_process_shows_literally_everywhere(qtbot, gui, named_listener, name, via):
    proc, port = named_listener(name, via)
    assert psutil.Process(proc.pid).name() == name
    start_and_wait_first_poll(qtbot, gui)
    window = gui.window
    key = ListenerKey(Proto.TCP, Family.IPV4, "127.0.0.1", port, proc.pid)
    qtbot.waitUntil(lambda: window.model.row_of(key) is not None, timeout=20_000)
    assert window.select_listener(key)

    cell = window.model.index(window.model.row_of(key), Column.PROCESS)
    # the table cell; renamed with prctl, its name is not its executable's: flagged
    assert cell.data() == (FLAG_MARKER + name if via == "prctl" else name)
    tooltip = cell.data(Qt.ItemDataRole.ToolTipRole)
    assert name not in tooltip  # escaped in the markup...
    assert name in rendered(tooltip)  # ...and shown literally
    qtbot.waitUntil(lambda: name in window.details.view.toPlainText(), timeout=10_000)
    body = window.details.view.toHtml().split("<body", 1)[1]
    assert "<b>" not in body and "<img" not in body  # the name never became markup

    seen: list[tuple[str, Qt.TextFormat]] = []

    def inspect_and_cancel() -> None:
        box = QApplication.activeModalWidget()
        assert isinstance(box, QMessageBox)
        seen.extend((label.text(), label.textFormat()) for label in box.findChildren(QLabel))
        box.reject()

    QTimer.singleShot(300, inspect_and_cancel)
    assert not confirm_terminate(window, name, proc.pid, "TCP 127.0.0.1:1")
    assert any(name in text for text, _ in seen)  # the confirmation names the process...
    for text, text_format in seen:
        if name in text:
            assert text_format == Qt.TextFormat.PlainText  # ...as plain text
    for label in window.findChildren(QLabel):
        if name in label.text():
            assert label.textFormat() == Qt.TextFormat.PlainText, label.objectName()
    assert proc.poll() is None  # cancelled: still running


def test_terminate_from_the_pane_stops_the_process(qtbot, gui, listener_factory):
    child = listener_factory("tcp", "127.0.0.1")
    start_and_wait_first_poll(qtbot, gui)
    window = gui.window
    qtbot.waitUntil(lambda: window.model.row_of(key_of(child)) is not None, timeout=20_000)
    assert window.select_listener(key_of(child))
    pane = window.details
    name = psutil.Process(child.pid).name()
    asked = []
    pane.confirm = lambda parent, name, pid, where: asked.append((name, pid, where)) or True
    with qtbot.waitSignal(pane.terminate_finished, timeout=10_000) as finished:
        pane.terminate_button.click()
    assert asked == [(name, child.pid,
                      f"TCP 127.0.0.1:{child.port}")]
    assert finished.args[0].outcome is TerminateOutcome.TERMINATED
    qtbot.waitUntil(lambda: child.proc.poll() is not None, timeout=5000)


def test_terminate_refused_when_the_pid_changed_hands(qtbot, gui, listener_factory):
    child = listener_factory("tcp", "127.0.0.1")
    start_and_wait_first_poll(qtbot, gui)
    window = gui.window
    qtbot.waitUntil(lambda: window.model.row_of(key_of(child)) is not None, timeout=20_000)
    window.select_listener(key_of(child))
    pane = window.details
    item = pane.item
    proc = item.listener.process
    stale = dataclasses.replace(item, listener=dataclasses.replace(
        item.listener, process=dataclasses.replace(proc, create_time=proc.create_time - 50)))
    pane.show_listener(stale)  # as if the PID had been reused since the row was shown
    pane.confirm = lambda *args: True
    with qtbot.waitSignal(pane.terminate_finished, timeout=10_000) as finished:
        pane.request_terminate()
    assert finished.args[0].outcome is TerminateOutcome.IDENTITY_CHANGED
    assert child.proc.poll() is None


def test_ctrl_f_focuses_the_filter_field_and_selects_its_text(qtbot, gui):
    """The keys pressed in the shown window: Ctrl+F once had two owners (the View menu's action
    and a shortcut of the filter bar), Qt called it ambiguous and nothing happened."""
    window = gui.window
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=5000)
    search = window.filter_bar.search
    search.setText("redis")
    window.table.setFocus()
    assert not search.hasFocus()
    qtbot.keyClick(window.table, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(search.hasFocus, timeout=5000)
    assert search.selectedText() == "redis"
