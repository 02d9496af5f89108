"""The order of a window's launch: its first table before anything else, then what is built
after the first frame, and the log line that says where the launch's time went.

`FirstRows` applies the worker's first table (`rows_ready`, sent before the alert rules and the
history ran) and then lets the worker go on; `AfterFirstFrame` builds
the tray, the notifier and the alert channels once those rows are drawn; `EarlyPolls` hands
them every poll, the ones from before they existed included; `LaunchLog` writes the `launch:`
line the benchmark reads (README "Performance").
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from portwatch.core.monitor import PollResult
from portwatch.core.probe import seconds_since_start

if TYPE_CHECKING:
    from portwatch.gui.views.main_window import MainWindow
    from portwatch.gui.worker import MonitorWorker

log = logging.getLogger(__name__)


class FirstRows(QObject):
    """Shows the worker's first table (`rows_ready`) and then tells the worker it may go on
    (after the paint)."""

    def __init__(self, worker: MonitorWorker, window: MainWindow) -> None:
        super().__init__(window)
        self._worker = worker
        self._window = window
        worker.rows_ready.connect(self.show)

    @Slot(object)
    def show(self, result: PollResult) -> None:
        self._window.apply_poll(result)
        QTimer.singleShot(0, self, self._worker.first_rows_shown)  # after the paint


class LaunchLog(QObject):
    """Logs where a launch's time went, once the first rows are applied (after the window's
    own "table populated" line): seconds since the process started at each step, from the
    kernel's record of the start (the benchmark reads this line: tests/perf/bench.py)."""

    def __init__(self, worker: MonitorWorker, parent: QObject, imported: float | None) -> None:
        super().__init__(parent)
        self._marks = {"imported": imported}
        worker.rows_ready.connect(self._rows_shown)  # after the window's apply_poll

    def mark(self, name: str) -> None:
        self._marks[name] = seconds_since_start()

    @Slot(object)
    def _rows_shown(self, result: Any) -> None:
        shown = seconds_since_start()
        marks = self._marks
        if shown is None or None in marks.values():
            return
        log.info("launch: Qt and portwatch imported at %.2f s, window shown at %.2f s, first"
                 " poll %.2f s (scan, diff, annotate; %d rows), rows applied at %.2f s",
                 marks["imported"], marks.get("shown", 0.0), result.duration,
                 len(result.rows), shown)


class EarlyPolls(QObject):
    """Delivers the worker's polls to the parts built after the first frame (alerts,
    channels): they connect to its `polled`, and `hand_over()` gives them, in order, the polls
    that came before they existed (the first poll's alerts, about listeners that appeared while
    portwatch was not running, are told once), then passes each later one on. Every poll
    reaches them once: this object, not they, is connected to the worker from the start."""

    polled = Signal(object)

    def __init__(self, worker: QObject, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.results: list[Any] | None = []  # None once handed over
        worker.polled.connect(self.keep)

    @Slot(object)
    def keep(self, result: Any) -> None:
        if self.results is None:
            self.polled.emit(result)
        else:
            self.results.append(result)

    def hand_over(self) -> None:
        """Send the kept polls to what is connected now; later polls go on as they come."""
        results, self.results = self.results or [], None
        for result in results:
            self.polled.emit(result)


class AfterFirstFrame(QObject):
    """Runs `build` once, in the GUI thread, after the worker's first rows were applied and
    drawn — or after its first failed poll, or `latest_ms` at the latest."""

    def __init__(self, gui: Any, build: Callable[[], None], latest_ms: int = 3000) -> None:
        """`gui` has `window` and `worker` (app.PortwatchGui)."""
        super().__init__(gui.window)  # a GUI-thread object: the worker's signals are queued
        self._build: Callable[[], None] | None = build
        worker = gui.worker
        self._signals = (worker.rows_ready, worker.polled, worker.failed)
        for signal in self._signals:
            signal.connect(self._soon)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._run)
        self._timer.start(latest_ms)

    def _soon(self, *_args: object) -> None:  # a bound method of a GUI-thread object: queued
        self._timer.start(0)  # after the paint the new rows asked for

    @Slot()
    def _run(self) -> None:
        build, self._build = self._build, None
        if build is None:
            return
        for signal in self._signals:
            signal.disconnect(self._soon)
        build()
