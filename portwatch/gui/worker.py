"""Run `Monitor.poll()` on a timer in a worker thread and send each PollResult to the GUI.

`MonitorWorker` is a QObject moved to a QThread; its QTimer is created in that thread (in
`start()`, which runs once the thread has started). Every request from the GUI thread
(interval, poll now, pause, stop) travels as a queued signal, so the worker's state is only
ever touched by its own thread. `MonitorThread` owns the pair and shuts them down cleanly.
`setup` and `teardown` callables run in the worker thread, `setup` during the first poll and
`teardown` after the last one: the place to open and close what must belong to that thread
(the history's SQLite connection). The first poll sends its table (`rows_ready`) before `setup`
runs and before the alert rules and the history see it, so the window is populated without
waiting for them (launch time: README "Performance"); its whole result follows (`polled`).
Two calls reach the worker while it is inside that first poll, so they are events
(threading.Event), not queued signals: `first_rows_shown()` (the window drew the rows: go on)
and `release_signals()` (everything that listens is connected, for a thread started before the
window was built: `MonitorThread.start_early()`). The window's remote hosts are polled in the
same thread (remote_hosts.py: their ssh runs as child processes read as their output comes, so
nothing waits), and every PollResult that `polled` carries holds every machine's rows
(core/hosts.py's Fleet merges them).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot

from portwatch.core.hosts import Fleet
from portwatch.core.monitor import Monitor

log = logging.getLogger(__name__)

MIN_INTERVAL = 0.5
MAX_INTERVAL = 60.0
# How long the first poll waits, at most, for the window to show its rows (`first_rows_shown`)
# before it opens the history and runs the alert rules: the two threads share one interpreter,
# and that work would otherwise slow the window's first frame down.
FIRST_ROWS_HOLD = 1.0
RELEASE_WAIT = 60.0  # at most, for a GUI thread that started the worker before its window


class MonitorWorker(QObject):
    """Polls a Monitor every `interval` seconds in the thread it was moved to.

    Signals: `polled(PollResult)` after each successful poll; `rows_ready(PollResult)` once,
    the first poll's table before its alert rules and history ran (no alerts in it yet);
    `failed(str)` with a sentence for the user when a poll raised (the worker keeps going);
    `notice(str)` for problems of `setup` (e.g. the history could not be opened: monitoring
    goes on without it)."""

    polled = Signal(object)
    rows_ready = Signal(object)
    failed = Signal(str)
    notice = Signal(str)

    _interval_requested = Signal(float)
    _poll_requested = Signal()
    _pause_requested = Signal(bool)
    _stop_requested = Signal()
    _hosts_requested = Signal(object)  # tuple[str, ...]: the remote hosts to poll
    _alerts_off_requested = Signal(object)  # frozenset[str]: the hosts whose alerts are off

    def __init__(self, monitor: Monitor, interval: float = 2.0,
                 min_interval: float = MIN_INTERVAL,
                 setup: Callable[[], Iterable[str] | None] | None = None,
                 teardown: Callable[[], None] | None = None,
                 hold_first_rows: bool = False, hosts: tuple[str, ...] = (),
                 host_interval: float | None = None,
                 hosts_without_alerts: tuple[str, ...] = ()) -> None:
        super().__init__()  # no parent: it is moved to its own thread
        self._monitor = monitor
        self._fleet = Fleet(monitor)
        self._fleet.alerts_off = frozenset(hosts_without_alerts)
        self._hosts = tuple(hosts)
        self._host_interval = host_interval
        self._pollers = None  # HostPollers, made in this thread when hosts are wanted
        # Set by the GUI thread once the first rows are on screen (when `hold_first_rows`).
        self._shown = threading.Event()
        if not hold_first_rows:
            self._shown.set()
        # Set when the GUI thread has connected everything: nothing is emitted before (a
        # thread started early scans while the window is still being built).
        self._released = threading.Event()
        self._released.set()
        self._setup = setup
        self._teardown = teardown
        self._interval = interval
        self._min_interval = min_interval  # tests poll faster than users may
        self._paused = False
        self._first = True  # the next poll is the first: its table goes out early
        self._timer: QTimer | None = None
        self._interval_requested.connect(self._apply_interval)
        self._poll_requested.connect(self._poll_now)
        self._pause_requested.connect(self._apply_pause)
        self._stop_requested.connect(self._stop)
        self._hosts_requested.connect(self._apply_hosts)
        self._alerts_off_requested.connect(self._apply_alerts_off)

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
        self._shown.set()
        self._released.set()
        self._stop_requested.emit()

    def set_hosts(self, hosts: tuple[str, ...]) -> None:
        """Poll these remote hosts (ssh destinations) from now on, beside this machine."""
        self._hosts_requested.emit(tuple(hosts))

    def set_hosts_without_alerts(self, hosts: tuple[str, ...]) -> None:
        """From the next answer on, these remote hosts' alerts are dropped (their listeners
        are still learnt by the alert rules, shown and recorded)."""
        self._alerts_off_requested.emit(frozenset(hosts))

    def first_rows_shown(self) -> None:
        """The window shows the first rows: the first poll goes on (history, alert rules)."""
        self._shown.set()

    def hold_signals(self) -> None:
        """Emit nothing until `release_signals()` (call before the thread starts)."""
        self._released.clear()

    def release_signals(self) -> None:
        """Everything that listens is connected: results may go out."""
        self._released.set()

    # --- run in the worker thread ---------------------------------------------------------
    @Slot()
    def start(self) -> None:
        """Create the timer in this thread and poll at once (connected to QThread.started);
        `setup` runs during that first poll, or now when paused."""
        self._timer = QTimer(self)
        self._timer.setInterval(self._ms(self._interval))
        self._timer.timeout.connect(self._tick)
        if self._paused:
            self._run_setup()
        else:
            self._timer.start()
            QTimer.singleShot(0, self, self._tick)
        if self._hosts:
            QTimer.singleShot(0, self, lambda: self._apply_hosts(self._hosts))

    def _ms(self, seconds: float) -> int:
        return round(min(max(float(seconds), self._min_interval), MAX_INTERVAL) * 1000)

    def _run_setup(self) -> None:
        """Run `setup` once; its problems become notices."""
        setup, self._setup = self._setup, None
        if setup is None:
            return
        self._released_now()  # its notices go to the window
        try:
            for problem in setup() or ():
                self.notice.emit(problem)
        except Exception as exc:
            log.exception("worker setup failed")
            self.notice.emit(f"Part of portwatch could not start ({exc}); monitoring goes"
                             " on without it.")

    def _released_now(self) -> None:
        """Wait until the GUI thread lets results out (at once unless `hold_signals()`)."""
        if not self._released.wait(RELEASE_WAIT):
            log.warning("the window did not take the results within %s s", RELEASE_WAIT)
            self._released.set()

    def _first_rows(self, result: object) -> None:
        """The first poll's table is out before `setup` and the alert rules run (after the
        window has shown it, when it holds the worker: at most FIRST_ROWS_HOLD seconds)."""
        self._released_now()
        self.rows_ready.emit(result)
        if not self._shown.wait(FIRST_ROWS_HOLD):
            log.debug("the first rows were not shown within %s s; going on", FIRST_ROWS_HOLD)
        self._run_setup()

    @Slot()
    def _tick(self) -> None:
        first, self._first = self._first, False
        try:
            result = self._monitor.poll(rows_ready=self._first_rows) if first \
                else self._monitor.poll()
        except Exception as exc:  # a scan fault must not end monitoring
            log.exception("poll failed")
            self._released_now()
            self.failed.emit(f"The scan failed ({type(exc).__name__}: {exc}); portwatch keeps"
                             " trying at every interval.")
            return
        finally:
            self._run_setup()  # also when the first poll failed: the history opens anyway
        self._released_now()
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

    @Slot(object)
    def _apply_alerts_off(self, hosts: frozenset[str]) -> None:
        self._fleet.alerts_off = hosts

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
                 hold_first_rows: bool = False, hosts: tuple[str, ...] = (),
                 host_interval: float | None = None,
                 hosts_without_alerts: tuple[str, ...] = ()) -> None:
        self.thread = QThread()
        self.thread.setObjectName("portwatch-monitor")
        self.worker = MonitorWorker(monitor, interval, min_interval, setup, teardown,
                                    hold_first_rows, hosts, host_interval,
                                    hosts_without_alerts)
        self.worker.moveToThread(self.thread)
        self.thread.started.connect(self.worker.start)

    def start(self) -> None:
        self.thread.start()

    def start_early(self) -> None:
        """Start polling before the receivers are connected: results wait for
        `worker.release_signals()`, which the owner calls once everything is connected."""
        self.worker.hold_signals()
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
