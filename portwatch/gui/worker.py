"""Run `Monitor.poll()` on a timer in a worker thread and send each PollResult to the GUI.

`MonitorWorker` is a QObject moved to a QThread; its QTimer is created in that thread (in
`start()`, which runs once the thread has started). Every request from the GUI thread
(interval, poll now, pause, stop) travels as a queued signal, so the worker's state is only
ever touched by its own thread. `MonitorThread` owns the pair and shuts them down cleanly.
`setup` and `teardown` callables run in the worker thread before the first poll and after
the last one: the place to open and close what must belong to that thread (the history's
SQLite connection). The window's remote hosts are polled in the same thread (remote_hosts.py:
their ssh runs as child processes, so nothing waits), and every PollResult that `polled`
carries holds every machine's rows (core/hosts.py's Fleet merges them).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot

from portwatch.core.hosts import Fleet
from portwatch.core.monitor import Monitor

log = logging.getLogger(__name__)

MIN_INTERVAL = 0.5
MAX_INTERVAL = 60.0


class MonitorWorker(QObject):
    """Polls a Monitor every `interval` seconds in the thread it was moved to.

    Signals: `polled(PollResult)` after each successful poll; `failed(str)` with a sentence
    for the user when a poll raised (the worker keeps going); `notice(str)` for problems of
    `setup` (e.g. the history could not be opened: monitoring goes on without it)."""

    polled = Signal(object)
    failed = Signal(str)
    notice = Signal(str)

    _interval_requested = Signal(float)
    _poll_requested = Signal()
    _pause_requested = Signal(bool)
    _stop_requested = Signal()
    _hosts_requested = Signal(object)  # tuple[str, ...]: the remote hosts to poll

    def __init__(self, monitor: Monitor, interval: float = 2.0,
                 min_interval: float = MIN_INTERVAL,
                 setup: Callable[[], Iterable[str] | None] | None = None,
                 teardown: Callable[[], None] | None = None,
                 hosts: tuple[str, ...] = (), host_interval: float | None = None) -> None:
        super().__init__()  # no parent: it is moved to its own thread
        self._monitor = monitor
        self._fleet = Fleet(monitor)
        self._hosts = tuple(hosts)
        self._host_interval = host_interval
        self._pollers = None  # HostPollers, made in this thread when hosts are wanted
        self._setup = setup
        self._teardown = teardown
        self._interval = interval
        self._min_interval = min_interval  # tests poll faster than users may
        self._paused = False
        self._timer: QTimer | None = None
        self._interval_requested.connect(self._apply_interval)
        self._poll_requested.connect(self._poll_now)
        self._pause_requested.connect(self._apply_pause)
        self._stop_requested.connect(self._stop)
        self._hosts_requested.connect(self._apply_hosts)

    # --- called from any thread -----------------------------------------------------------
    def set_interval(self, seconds: float) -> None:
        """Poll every `seconds` (clamped to 0.5–60) from now on."""
        self._interval_requested.emit(float(seconds))

    def poll_now(self) -> None:
        """Poll at once (also while paused) and restart the interval."""
        self._poll_requested.emit()

    def pause(self) -> None:
        self._pause_requested.emit(True)

    def resume(self) -> None:
        self._pause_requested.emit(False)

    def stop(self) -> None:
        """Stop polling and end the thread's event loop (the owner then waits for it)."""
        self._stop_requested.emit()

    def set_hosts(self, hosts: tuple[str, ...]) -> None:
        """Poll these remote hosts (ssh destinations) from now on, beside this machine."""
        self._hosts_requested.emit(tuple(hosts))

    # --- run in the worker thread ---------------------------------------------------------
    @Slot()
    def start(self) -> None:
        """Run `setup`, create the timer in this thread and poll at once (connected to
        QThread.started)."""
        if self._setup is not None:
            try:
                for problem in self._setup() or ():
                    self.notice.emit(problem)
            except Exception as exc:
                log.exception("worker setup failed")
                self.notice.emit(f"Part of portwatch could not start ({exc}); monitoring goes"
                                 " on without it.")
        self._timer = QTimer(self)
        self._timer.setInterval(self._ms(self._interval))
        self._timer.timeout.connect(self._tick)
        if not self._paused:
            self._timer.start()
            QTimer.singleShot(0, self, self._tick)
        if self._hosts:
            self._apply_hosts(self._hosts)

    def _ms(self, seconds: float) -> int:
        return round(min(max(float(seconds), self._min_interval), MAX_INTERVAL) * 1000)

    @Slot()
    def _tick(self) -> None:
        try:
            result = self._monitor.poll()
        except Exception as exc:  # a scan fault must not end monitoring
            log.exception("poll failed")
            self.failed.emit(f"The scan failed ({type(exc).__name__}: {exc}); portwatch keeps"
                             " trying at every interval.")
            return
        self.polled.emit(self._fleet.local_polled(result))

    @Slot(object)
    def _apply_hosts(self, hosts: tuple[str, ...]) -> None:
        self._hosts = hosts
        if self._timer is None:
            return  # start() applies them
        if self._pollers is None:
            if not hosts:
                return
            from portwatch.gui.remote_hosts import HOST_INTERVAL, HostPollers

            self._pollers = HostPollers(self._fleet, self._host_interval or max(
                HOST_INTERVAL, self._interval), self)
            self._pollers.polled.connect(self.polled)
            self._pollers.set_paused(self._paused)
        self._pollers.set_hosts(hosts)

    @Slot(float)
    def _apply_interval(self, seconds: float) -> None:
        self._interval = seconds
        if self._pollers is not None and self._host_interval is None:
            from portwatch.gui.remote_hosts import HOST_INTERVAL

            self._pollers.interval = max(HOST_INTERVAL, seconds)
        if self._timer is not None:
            self._timer.setInterval(self._ms(seconds))  # restarts it when active
        log.debug("poll interval now %s ms", self._ms(seconds))

    @Slot()
    def _poll_now(self) -> None:
        if self._timer is None:
            return
        if self._timer.isActive():
            self._timer.start()  # the next tick comes a full interval after this poll
        self._tick()
        if self._pollers is not None:
            self._pollers.poll_now()

    @Slot(bool)
    def _apply_pause(self, paused: bool) -> None:
        self._paused = paused
        if self._pollers is not None:
            self._pollers.set_paused(paused)
        if self._timer is None:
            return
        if paused:
            self._timer.stop()
        elif not self._timer.isActive():
            self._timer.start()
            self._tick()

    @Slot()
    def _stop(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        if self._pollers is not None:
            self._pollers.stop()  # ends the ssh children
        if self._teardown is not None:
            try:
                self._teardown()
            except Exception:
                log.exception("worker teardown failed")
            self._teardown = None
        thread = self.thread()
        if thread is not None:
            thread.quit()


class MonitorThread:
    """Owns a MonitorWorker and its QThread: `start()`, then `shutdown()` before quitting."""

    def __init__(self, monitor: Monitor, interval: float = 2.0,
                 min_interval: float = MIN_INTERVAL,
                 setup: Callable[[], Iterable[str] | None] | None = None,
                 teardown: Callable[[], None] | None = None,
                 hosts: tuple[str, ...] = (), host_interval: float | None = None) -> None:
        self.thread = QThread()
        self.thread.setObjectName("portwatch-monitor")
        self.worker = MonitorWorker(monitor, interval, min_interval, setup, teardown, hosts,
                                    host_interval)
        self.worker.moveToThread(self.thread)
        self.thread.started.connect(self.worker.start)

    def start(self) -> None:
        self.thread.start()

    def shutdown(self, timeout: float = 10.0) -> bool:
        """Stop the timer, end the thread and wait for it (an ongoing poll finishes first).
        True when the thread has ended."""
        if not self.thread.isRunning():
            return True
        self.worker.stop()
        if self.thread.wait(int(timeout * 1000)):
            return True
        log.error("the monitor thread did not stop within %s s", timeout)
        return False
