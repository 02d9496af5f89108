"""The window's alerts reach the alert channels: the worker's `polled` signal hands them to
the channel threads, and a channel's failure is shown in the window from the GUI thread."""

from __future__ import annotations

import json
import threading

import yaml
from PySide6.QtCore import QObject, Signal
from receivers import HttpReceiver
from test_channels import alert

from portwatch.core.model import Snapshot
from portwatch.core.monitor import PollResult
from portwatch.gui.alerts.channel_link import install_channels


class FakeWindow:
    """Records what the window would show, and from which thread."""

    def __init__(self) -> None:
        self.shown: list[tuple[str, bool]] = []

    def show_problems(self, messages) -> None:
        for message in messages:
            self.shown.append((message, threading.current_thread() is threading.main_thread()))


class FakeWorker(QObject):
    polled = Signal(object)


class FakeGui:
    def __init__(self) -> None:
        self.window = FakeWindow()
        self.worker = FakeWorker()


def result_with(*alerts) -> PollResult:
    return PollResult(Snapshot(1.0, ()), (), (), (), (), first=False, duration=0.0,
                      alerts=alerts)


def test_window_alerts_go_to_the_channels(qtbot, qapp, isolated_dirs):
    config, _ = isolated_dirs
    with HttpReceiver() as server:
        settings = config / "settings.yaml"
        settings.write_text(yaml.safe_dump({"channels": [
            {"type": "webhook", "url": server.url + "/ok"},
            {"type": "command", "command": ["false"], "name": "broken"}]}))
        settings.chmod(0o600)
        gui = FakeGui()
        link = install_channels(qapp, gui)
        try:
            assert link is not None and link.channels.names == ["webhook 1", "broken"]
            gui.worker.polled.emit(result_with())  # a quiet poll sends nothing
            gui.worker.polled.emit(result_with(alert()))
            request = server.next()
            assert json.loads(request.body)["title"] == "New listener: port 2375/tcp (dockerd)"
            qtbot.waitUntil(lambda: bool(gui.window.shown), timeout=30_000)
            ((message, in_gui_thread),) = gui.window.shown
            assert "'broken' (command) failed" in message and "status 1" in message
            assert in_gui_thread
        finally:
            if link is not None:
                link.close()


def test_no_channels_no_link(qapp, isolated_dirs):
    gui = FakeGui()
    assert install_channels(qapp, gui) is None
    assert gui.window.shown == []
