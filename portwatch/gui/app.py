"""The composition root of the window: builds settings, scanner, catalog, Monitor, the worker
thread and the main window, wires them together and owns their lifetime.

`run_gui()` adds the features that live in their own modules, each optional (a failure is
logged and told in the status bar, never a window that does not open): one instance per user
(single_instance.py), the history store opened in the worker thread and its History tab
(core/store/history.py, history_view.py), alert rules, tray, notifications and the alerts banner
(alerting.py). The Monitor built by `build_monitor()` is the one place where alert rules and
history plug in (its `alert_rules` and `history` attributes).

Launch order (README "Performance"): the window's first frame needs the table and nothing
else, so the alert rules are set on the Monitor at once (its first poll is the baseline) but the
tray, the desktop notifier (a D-Bus round trip) and the alert channels are built right after
the first rows are shown, and get every poll (desktop/first_frame.py). The first poll starts
before the window is built; the window's scanner starts from the owner map the previous run
saved and saves its own when the worker stops.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QMessageLogContext,
    QObject,
    QtMsgType,
    qInstallMessageHandler,
)
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from portwatch.assets import resource_file
from portwatch.core.files import paths
from portwatch.core.firewall import Firewall
from portwatch.core.knowledge.reach import ReachAnnotator
from portwatch.core.monitor import Monitor
from portwatch.core.probe import ListenerScanner, seconds_since_start
from portwatch.core.probe.connwatch import ConnectionWatch
from portwatch.core.store.settings import Settings, SettingsError, load_settings, save_settings
from portwatch.gui.desktop.first_frame import AfterFirstFrame, EarlyPolls, FirstRows, LaunchLog
from portwatch.gui.desktop.launch import collector_passes
from portwatch.gui.desktop.quit_signals import QuitOnSignals
from portwatch.gui.style.theme import SchemeFollower
from portwatch.gui.views.main_window import MainWindow
from portwatch.gui.views.window_state import load_window_state, save_window_state
from portwatch.gui.worker import MIN_INTERVAL, MonitorThread

log = logging.getLogger(__name__)
qt_log = logging.getLogger("portwatch.qt")

APP_NAME = "portwatch"
DESKTOP_FILE_NAME = "io.github.portwatch.portwatch"
ICON = "icons/portwatch.svg"

_QT_LEVELS = {
    QtMsgType.QtDebugMsg: logging.DEBUG,
    QtMsgType.QtInfoMsg: logging.INFO,
    QtMsgType.QtWarningMsg: logging.WARNING,
    QtMsgType.QtCriticalMsg: logging.ERROR,
    QtMsgType.QtFatalMsg: logging.CRITICAL,
}


def qt_message_handler(mode: QtMsgType, context: QMessageLogContext, message: str) -> None:
    """Qt's own warnings go to the `portwatch.qt` logger instead of stderr."""
    where = f" ({context.category})" if context.category and context.category != "default" else ""
    qt_log.log(_QT_LEVELS.get(mode, logging.WARNING), "%s%s", message, where)


def window_scanner() -> ListenerScanner:
    """The window's scanner: every network namespace as root (entering one needs it; the
    filter bar shows the host's by default, and alerts and history are about the host's:
    core.monitor), starting from the owner map an earlier run saved (re-checked on use) and
    saving its own on `close()`."""
    from portwatch.core.probe import default_owner_cache

    return ListenerScanner(all_netns=hasattr(os, "geteuid") and os.geteuid() == 0,
                           owner_cache=default_owner_cache())


def build_monitor(scanner: ListenerScanner | None = None
                  ) -> tuple[Monitor, object | None, list[str]]:
    """The one Monitor of the application (scanner + catalog), the catalog for the lookup
    dialog (None when it could not be loaded) and problems for the user."""
    problems: list[str] = []
    catalog = None
    try:
        from portwatch.core.knowledge.catalog import load_catalog

        catalog = load_catalog()
        problems.extend(catalog.problems)
    except Exception as exc:  # a damaged bundled catalog: monitor anyway, without meanings
        log.error("the port catalog could not be loaded: %s", exc)
        problems.append(f"The port catalog could not be loaded ({exc}); ports are shown"
                        " without their meaning.")
    if scanner is None:  # every namespace as root, as window_scanner()
        scanner = ListenerScanner(all_netns=hasattr(os, "geteuid") and os.geteuid() == 0)
    firewall = Firewall()
    monitor = Monitor(scanner.scan, ReachAnnotator(catalog, firewall),
                      connections=ConnectionWatch(firewall.local_addresses))
    return monitor, catalog, problems


def window_icon() -> QIcon | None:
    """The application icon when it ships (resources/icons/portwatch.svg)."""
    icon_file = resource_file(ICON)
    if not icon_file.is_file():
        return None
    icon = QIcon(str(icon_file))
    return None if icon.isNull() else icon


class PortwatchGui:
    """The running window: a MainWindow fed by a MonitorThread. `start()`, then `shutdown()`."""

    def __init__(self, settings: Settings, monitor: Monitor, catalog: object | None = None,
                 problems: list[str] | tuple[str, ...] = (),
                 settings_path: Path | None = None,
                 min_interval: float = MIN_INTERVAL,
                 setup: Callable[[], Iterable[str] | None] | None = None,
                 teardown: Callable[[], None] | None = None,
                 window_state_path: Path | None = None, early: bool = False,
                 host_interval: float | None = None) -> None:
        """With `early`, the first poll starts before the window is built (its results wait
        for `start()`, by when everything that listens is connected)."""
        self.settings = settings
        self.settings_path = settings_path
        # Size, splitters and columns: restored at start() and saved at shutdown() when set.
        self.window_state_path = window_state_path
        self.monitor = monitor
        self.monitor_thread = MonitorThread(monitor, settings.poll_interval, min_interval,
                                            setup, teardown, hold_first_rows=True,
                                            hosts=settings.hosts, host_interval=host_interval,
                                            hosts_without_alerts=settings.hosts_without_alerts)
        if early:
            self.monitor_thread.start_early()
        try:
            self.window = MainWindow(settings, catalog)
        except BaseException:
            self.monitor_thread.shutdown()  # no thread may outlive a window that failed
            raise
        self.scheme = SchemeFollower(QApplication.instance(), settings.color_scheme,
                                     parent=self.window)  # light, dark or the desktop's
        worker = self.monitor_thread.worker
        self.worker = worker
        # The first table comes before its alerts; the worker waits until it is shown.
        self.first_rows = FirstRows(worker, self.window)
        worker.polled.connect(self.window.apply_poll)
        worker.failed.connect(self.window.show_failure)
        worker.notice.connect(self.window.show_notice)
        self.window.refresh_requested.connect(worker.poll_now)
        self.window.pause_requested.connect(self._pause)
        self.window.settings_changed.connect(self._settings_changed)
        self.window.show_problems(list(problems))
        self._stopped = False

    def start(self, show: bool = True) -> None:
        if self.window_state_path is not None:
            load_window_state(self.window, self.window_state_path)
        if not self.monitor_thread.thread.isRunning():
            self.monitor_thread.start()
        if show:
            self.window.show()
        self.worker.release_signals()  # everything that listens is connected by now

    def _pause(self, paused: bool) -> None:
        if paused:
            self.worker.pause()
        else:
            self.worker.resume()

    def _settings_changed(self, settings: Settings) -> None:
        hosts_only = dataclasses.replace(
            self.settings, hosts=settings.hosts,
            hosts_without_alerts=settings.hosts_without_alerts) == settings
        if settings.hosts_without_alerts != self.settings.hosts_without_alerts:
            self.worker.set_hosts_without_alerts(settings.hosts_without_alerts)
        if settings.hosts != self.settings.hosts:
            self.worker.set_hosts(settings.hosts)
        self.settings = settings
        self.worker.set_interval(settings.poll_interval)
        self.scheme.set_choice(settings.color_scheme)
        try:
            save_settings(settings, self.settings_path)
        except SettingsError as exc:
            log.error("%s", exc)
            box = QMessageBox(QMessageBox.Icon.Warning, "Settings not saved", str(exc),
                              QMessageBox.StandardButton.Ok, self.window)
            box.open()
            return
        if not hosts_only:  # the File menu's host actions say what they did themselves
            self.window.show_message("Preferences saved.")

    def shutdown(self) -> None:
        """Stop polling, wait for the worker thread and background jobs. Safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        if self.window_state_path is not None:
            save_window_state(self.window, self.window_state_path)
        self.monitor_thread.shutdown()
        self.window.shutdown()


def history_hooks(monitor: Monitor, settings: Settings,
                  scanner: ListenerScanner | None = None
                  ) -> tuple[Callable[[], list[str]], Callable[[], None]]:
    """Open the history store as `monitor.history` and close it again, both in the worker
    thread (an SQLite connection belongs to the thread that opened it); then close `scanner`
    there too (it saves its owner map for the next start)."""
    def setup() -> list[str]:
        from portwatch.core.store.history import attach_history

        return attach_history(monitor, paths.history_file(),
                              retention_days=settings.history_retention_days,
                              max_bytes=settings.history_max_mb * 1_000_000)

    def teardown() -> None:
        history = monitor.history
        flush = getattr(history, "flush", None)
        if flush is not None and not flush():
            log.warning("history: %d events shown in this run were not recorded in %s (%s)",
                        history.unrecorded, history.path, history.failing)
        close = getattr(history, "close", None)
        if close is not None:
            close()
        if scanner is not None:
            scanner.close()

    return setup, teardown


def _optional(what: str, problems: list[str], build: Callable[[], Any]) -> Any:
    """Run one optional part of start-up; a failure is logged and told, not fatal."""
    try:
        return build()
    except Exception as exc:
        log.exception("%s failed", what)
        problems.append(f"{what} is not available ({exc}).")
        return None


def add_history_tab(window: MainWindow) -> QWidget:
    """The History tab; its timeline is built when the tab is first opened (start-up speed)."""
    from portwatch.gui.views.history_tab import LazyHistoryTab

    tab = LazyHistoryTab(paths.history_file())
    window.add_tab(tab, "History")
    return tab


def paint_on_the_gui_thread() -> None:
    """Keep Qt's raster painting on the GUI thread (before the QApplication paints anything).
    Qt hands any fill taller than ~96 lines (the table's background, a scroll bar) to a pool of
    threads and waits for them; on the 2-core VM that hand-off made a table frame 3.1 ms of CPU
    instead of 0.9 and its wall time worse on a busy machine (README "Performance"). Qt reads
    QT_NO_GUI_THREADPOOL once, when it first wants that pool; a value the user set wins."""
    os.environ.setdefault("QT_NO_GUI_THREADPOOL", "1")


def freeze_what_the_launch_built() -> None:
    """Leave the objects the launch made (the catalog, the first table, the widgets: most of
    the heap) out of the garbage collector's later full passes, which would walk them all
    again: with 20,000 rows such a pass took up to 65 ms, a stall in whatever frame it fell
    (README "Performance"). One collection first, so no garbage is frozen with them; what is
    frozen is still freed by reference counting when let go (only a reference cycle among
    those objects would stay). Then the collector is on again: the command line's launch turns
    it off until now (gui/desktop/launch.py)."""
    passes = collector_passes()
    gc.collect()
    gc.freeze()
    gc.enable()
    log.debug("after the first frame: %d garbage collector passes since start, %d objects"
              " frozen, the collector on", passes, gc.get_freeze_count())


def run_gui(debug: bool = False) -> int:
    """Open the window and run until the user quits; the exit status. `debug` also routes
    Qt's debug messages (logging is configured by the command line)."""
    imported = seconds_since_start()
    previous_handler = qInstallMessageHandler(qt_message_handler)
    if debug:
        qt_log.setLevel(logging.DEBUG)
    paint_on_the_gui_thread()
    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else APP_NAME])
    app.setApplicationName(APP_NAME)
    app.setApplicationDisplayName(APP_NAME)
    app.setDesktopFileName(DESKTOP_FILE_NAME)
    problems: list[str] = []
    instance = _optional("The single-instance check", problems, lambda: _claim_instance(app))
    if instance is False:
        qInstallMessageHandler(previous_handler)
        return 0  # another portwatch was asked to show its window
    icon = window_icon()
    if icon is not None:
        app.setWindowIcon(icon)
    settings_path = paths.settings_file()
    settings, messages = load_settings(settings_path)
    scanner = window_scanner()
    monitor, catalog, catalog_problems = build_monitor(scanner)
    # The first poll is the alert rules' baseline: they are there before it.
    _optional("Alert rules", problems, lambda: _set_alert_rules(monitor, settings))
    setup, teardown = history_hooks(monitor, settings, scanner)
    gui = PortwatchGui(settings, monitor, catalog, (), settings_path,
                       setup=setup, teardown=teardown,
                       window_state_path=paths.window_state_file(), early=True)
    try:  # the worker already scans (early=True): it must not outlive a failed start
        history_tab = _optional("The History tab", problems,
                                lambda: add_history_tab(gui.window))
        if history_tab is not None:  # the poll's events are in the file when it is shown
            gui.worker.polled.connect(history_tab.after_poll)
        launch = LaunchLog(gui.worker, gui.window, imported)
        early = EarlyPolls(gui.worker, parent=gui.window)
        later: list[str] = []

        def install_later_parts() -> Any:
            center = _optional("Alerts (tray icon, notifications)", later,
                               lambda: _install_alerting(app, gui, settings, early))
            _optional("Alert channels", later, lambda: _install_channels(app, gui, early))
            early.hand_over()
            gui.window.show_problems(later)
            freeze_what_the_launch_built()
            return center

        gui.window.show_problems([*messages, *catalog_problems, *problems])
        if instance is not None:
            instance.activation_requested.connect(gui.window.show_normal_and_raise)
        app.aboutToQuit.connect(gui.shutdown)
        quit_signals = QuitOnSignals(app)
        # Start minimised only with a tray icon to come back from: then the tray comes first.
        in_tray = False
        if settings.start_minimised:
            in_tray = getattr(install_later_parts(), "tray", None) is not None
        else:
            AfterFirstFrame(gui, install_later_parts)
        gui.start(show=not in_tray)
    except BaseException:
        gui.shutdown()
        raise
    launch.mark("shown")
    log.debug("window %s; polling every %s s", "in the tray" if in_tray else "shown",
              settings.poll_interval)
    try:
        return int(app.exec())
    finally:
        quit_signals.restore()
        gc.unfreeze()  # (a caller that goes on, a test, collects as before)
        gui.shutdown()
        app.aboutToQuit.disconnect(gui.shutdown)
        if instance is not None:
            instance.close()
        qInstallMessageHandler(previous_handler)


def _claim_instance(app: QApplication) -> Any:
    """The SingleInstance when we are the first portwatch of this user, False when another
    one was asked to raise its window instead."""
    from portwatch.gui.desktop.single_instance import SingleInstance

    instance = SingleInstance(parent=app)
    if instance.claim():
        return instance
    sys.stderr.write(f"portwatch: {instance.outcome}\n")  # the terminal of this launch
    return False


def _set_alert_rules(monitor: Monitor, settings: Settings) -> None:
    from portwatch.core.alerts.memory import MonitorAlertMemory
    from portwatch.core.alerts.rules import AlertRules

    monitor.alert_rules = AlertRules.from_settings(settings, MonitorAlertMemory(monitor))


def _install_channels(app: QApplication, gui: PortwatchGui, polls: QObject) -> Any:
    from portwatch.gui.alerts.channel_link import install_channels

    return install_channels(app, gui, polls)


def _install_alerting(app: QApplication, gui: PortwatchGui, settings: Settings,
                      polls: QObject) -> Any:
    from portwatch.gui.alerts.alerting import install_alerting

    return install_alerting(app, gui, settings, polls)
