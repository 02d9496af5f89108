"""The log lines the benchmark times the window by (tests/perf/bench.py): "table populated"
once, at the first poll the window applies, and "alert: <title>" with a monotonic time."""

from __future__ import annotations

import logging
import re
import time

import pytest
from gui_rows import FixedCatalog, ScriptedMonitor, listener
from PySide6.QtCore import QObject, Signal

from portwatch.core.model import Alert, AlertKind, Risk
from portwatch.core.store.settings import Settings
from portwatch.gui.alerts.alerting import AlertCenter
from portwatch.gui.views.main_window import MainWindow


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def gui_lines():
    """INFO lines of the portwatch.gui loggers (whatever the CLI configured before)."""
    logger = logging.getLogger("portwatch.gui")
    handler, level = Lines(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler.lines
    logger.removeHandler(handler)
    logger.setLevel(level)


class FakeWorker(QObject):
    polled = Signal(object)


def test_the_first_applied_poll_says_the_table_is_populated(qtbot, gui_lines):
    window = MainWindow(Settings(), FixedCatalog())
    qtbot.addWidget(window)
    scripted = ScriptedMonitor()
    window.apply_poll(scripted.poll([listener(22), listener(80), listener(53, "udp")]))
    window.apply_poll(scripted.poll([listener(22), listener(80)]))
    populated = [line for line in gui_lines if line.startswith("table populated")]
    assert len(populated) == 1
    assert re.fullmatch(r"table populated: 3 rows, \d+\.\d\d s after start", populated[0])
    window.shutdown()


def test_an_alert_is_logged_with_its_title_and_a_monotonic_time(qtbot, gui_lines):
    window, worker = MainWindow(Settings()), FakeWorker()
    qtbot.addWidget(window)
    center = AlertCenter(window, worker, Settings(notifications=False))
    scripted = ScriptedMonitor()
    row = scripted.poll([listener(8000)]).rows[0]
    before = time.monotonic()
    center.raise_alert(Alert(AlertKind.OPENED, (row,), Risk.LOW, time.time(),
                             "New listener: port 8000/tcp (server)", "body"))
    match = re.fullmatch(r"alert: New listener: port 8000/tcp \(server\)"
                         r" \(low risk; shown at monotonic ([0-9.]+)\)", gui_lines[-1])
    assert match and before - 0.01 <= float(match.group(1)) <= time.monotonic() + 0.01
    window.shutdown()
