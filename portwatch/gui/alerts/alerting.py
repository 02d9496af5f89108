"""Where alerts go: the window's alert list (the banner, in the Alerts dock), the tray icon's
state and a desktop notification.

`AlertCenter` listens to the worker's `polled` signal; each PollResult's alerts are added to
the banner, turn the tray icon to its "new alerts" state and, when the `notifications` setting
is on, are sent through the Notifier: at most `BURST` desktop notifications per `BURST_WINDOW`
seconds, the rest folded into one "N more alerts" notification when the window has passed
(every alert is still in the banner). Clicking a notification or an alert's Show selects the
listener in the window. Acknowledging, and adding or removing ignore rules, go to the alert
rules in the worker's thread through queued signals (`Acknowledger` lives in that thread),
because the rules' memory may be the worker's SQLite connection, which no other thread may
touch; the rules and acknowledgements come back as a `Decisions` value (`decisions_changed`).
The dialogs that edit them (ignore_dialog.py, rules_dialog.py) are opened by rules_editor.py.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Iterable
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal, Slot
from PySide6.QtWidgets import QApplication, QWidget

from portwatch.core.alerts.decisions import describe_rule
from portwatch.core.alerts.memory import MonitorAlertMemory
from portwatch.core.alerts.rules import AlertRules, identity, more_alerts, worst_first
from portwatch.core.knowledge.reach import reachable
from portwatch.core.model import (
    Alert,
    AnnotatedListener,
    IgnoreRule,
    ListenerIdentity,
    ListenerKey,
)
from portwatch.core.monitor import PollResult
from portwatch.gui.alerts.alert_banner import MAX_ALERTS, AlertBanner
from portwatch.gui.alerts.rules_editor import AlertRulesEditor
from portwatch.gui.notify.desktop import pick
from portwatch.gui.notify.notifier import Notifier, NullNotifier
from portwatch.gui.notify.tray import CloseToTray, Tray, keep_running_in_tray, show_window

log = logging.getLogger(__name__)

BURST = 5  # desktop notifications at most per BURST_WINDOW seconds ...
BURST_WINDOW = 10.0  # ... the rest become one "N more alerts" notification


def reachable_count(rows: Iterable[AnnotatedListener]) -> int:
    """Listeners other machines can reach (bound to more than loopback, and not provably
    blocked by the firewall)."""
    return sum(1 for row in rows if reachable(row))


class Acknowledger(QObject):
    """Applies the user's decisions (acknowledgements, ignore rules) to AlertRules in the
    thread that owns them.

    Create it, then `moveToThread(worker.thread())`; signals connected to its slots are then
    queued into that thread. After every change, and when asked (`send_decisions`), it emits
    the current `Decisions`."""

    acknowledged = Signal(object)  # tuple[AnnotatedListener, ...], after they were stored
    rule_added = Signal(object)  # IgnoreRule, after it was stored
    decisions_changed = Signal(object)  # Decisions: every ignore rule and acknowledgement
    failed = Signal(str)

    def __init__(self, rules: Any) -> None:
        super().__init__()  # no parent: it is moved to the worker's thread
        self._rules = rules

    @Slot(object)
    def acknowledge(self, rows: tuple[AnnotatedListener, ...]) -> None:
        try:
            for row in rows:
                self._rules.acknowledge(row)
        except Exception as exc:  # the history file may be locked or gone
            log.warning("could not store the acknowledgement: %s", exc)
            self.failed.emit(f"The acknowledgement was not saved ({exc}).")
            return
        log.debug("acknowledged %d listener(s)", len(rows))
        self.acknowledged.emit(rows)
        self.send_decisions()

    @Slot(object)
    def add_ignore_rule(self, rule: IgnoreRule) -> None:
        if self._change("The ignore rule was not saved", self._rules.add_ignore_rule, rule):
            log.info("ignore rule added: %s", describe_rule(rule))
            self.rule_added.emit(rule)
            self.send_decisions()

    @Slot(object)
    def remove_ignore_rule(self, rule: IgnoreRule) -> None:
        if self._change("The ignore rule was not removed", self._rules.remove_ignore_rule,
                        rule):
            log.info("ignore rule removed: %s", describe_rule(rule))
            self.send_decisions()

    @Slot(object)
    def unacknowledge(self, listener_identity: ListenerIdentity) -> None:
        if self._change("The acknowledgement was not removed", self._rules.unacknowledge,
                        listener_identity):
            log.info("acknowledgement removed: %s/%s port %s", listener_identity.program,
                     listener_identity.proto, listener_identity.port)
            self.send_decisions()

    @Slot()
    def send_decisions(self) -> None:
        """Emit the current rules and acknowledgements (read from the memory, in this
        thread)."""
        try:
            decisions = self._rules.decisions()
        except Exception as exc:
            log.warning("could not read the alert rules: %s", exc)
            self.failed.emit(f"The alert rules could not be read ({exc}).")
            return
        self.decisions_changed.emit(decisions)

    def _change(self, failure: str, change: Any, value: object) -> bool:
        try:
            change(value)
        except Exception as exc:  # the history file may be locked or gone
            log.warning("%s: %s", failure, exc)
            self.failed.emit(f"{failure} ({exc}).")
            return False
        return True

    @Slot(object)
    def apply_settings(self, settings: Any) -> None:
        """New alert settings from Preferences, applied between two polls."""
        fresh = type(self._rules).from_settings(settings, self._rules.memory)
        for name in ("min_polls", "ephemeral_udp", "coalesce", "rate_limit"):
            setattr(self._rules, name, getattr(fresh, name))


class AlertCenter(QObject):
    """Routes each alert to the banner, the tray and the desktop notifier.

    `window` needs `add_banner(widget)` and `select_listener(key)` (MainWindow has both);
    `worker` needs a `polled(PollResult)` signal and lives in its own thread; `rules` (the
    Monitor's AlertRules, optional) receives acknowledgements in that thread."""

    acknowledge_requested = Signal(object)  # tuple[AnnotatedListener, ...] -> Acknowledger
    settings_requested = Signal(object)  # Settings -> Acknowledger.apply_settings
    ignore_rule_requested = Signal(object)  # IgnoreRule -> Acknowledger.add_ignore_rule
    rule_removal_requested = Signal(object)  # IgnoreRule -> Acknowledger.remove_ignore_rule
    unacknowledge_requested = Signal(object)  # ListenerIdentity -> Acknowledger.unacknowledge
    decisions_requested = Signal()  # -> Acknowledger.send_decisions
    decisions_changed = Signal(object)  # Decisions, from the worker's thread

    def __init__(self, window: QWidget, worker: QObject, settings: Any, *,
                 notifier: Notifier | None = None, tray: Tray | None = None,
                 rules: Any = None, banner: AlertBanner | None = None,
                 parent: QObject | None = None, polls: QObject | None = None) -> None:
        """`polls` (default: the worker) is what delivers the PollResults (its `polled`)."""
        super().__init__(parent)
        self.window = window
        self.settings = settings
        self.notifier = notifier or NullNotifier(self)
        self.tray = tray
        self.close_to_tray: CloseToTray | None = None
        self.banner = banner or AlertBanner()
        self._notification_ids: dict[int, int] = {}  # id(alert) -> notifier's id
        self._sent_at: deque[float] = deque()  # monotonic times of recent notifications
        self._held: list[Alert] = []  # over the burst limit: told together later
        self._clock = time.monotonic
        self._flush_timer = QTimer(self)
        self._flush_timer.setSingleShot(True)
        self._flush_timer.timeout.connect(self._flush_held)
        self._listening = 0
        add_banner = getattr(window, "add_banner", None)
        if add_banner is not None:
            add_banner(self.banner)

        (polls or worker).polled.connect(self.on_polled)
        self.notifier.activated.connect(self.show_listener)
        self.banner.show_requested.connect(self.show_listener)
        self.banner.acknowledge_requested.connect(self.acknowledge)
        self.banner.dismissed.connect(self._withdraw)
        self.banner.count_changed.connect(self._alert_count_changed)

        self.acknowledger: Acknowledger | None = None
        if rules is not None:
            self.acknowledger = Acknowledger(rules)
            thread = worker.thread()
            if thread is not None:
                self.acknowledger.moveToThread(thread)
            self.acknowledge_requested.connect(self.acknowledger.acknowledge)
            self.settings_requested.connect(self.acknowledger.apply_settings)
            self.ignore_rule_requested.connect(self.acknowledger.add_ignore_rule)
            self.rule_removal_requested.connect(self.acknowledger.remove_ignore_rule)
            self.unacknowledge_requested.connect(self.acknowledger.unacknowledge)
            self.decisions_requested.connect(self.acknowledger.send_decisions)
            self.acknowledger.failed.connect(self._show_message)
            self.acknowledger.rule_added.connect(self._rule_added)
            self.acknowledger.decisions_changed.connect(self.decisions_changed)
        self.rules_editor: AlertRulesEditor | None = None
        if self.acknowledger is not None:
            self.rules_editor = AlertRulesEditor(self, window, parent=self)

        if tray is not None:
            self._connect_tray(tray)

    # -- polls and alerts --------------------------------------------------------------------

    @Slot(object)
    def on_polled(self, result: PollResult) -> None:
        if result.first:
            log.info("first poll: %d listening; watching for new listeners", len(result.rows))
        if self.tray is not None:
            host = result.host_rows  # other network namespaces are not the machine's reach
            self.tray.set_counts(len(host), reachable_count(host))
        if result.closed or result.opened:  # alerts whose listener closed say so
            # (not those of a remote host that cannot be read or was removed: unknown)
            answering = {status.host for status in result.hosts if status.state == "ok"}
            self.banner.mark_changes({row.key for row in result.closed
                                      if row.listener.host is None
                                      or row.listener.host in answering},
                                     {row.key for row in result.opened},
                                     result.snapshot.taken_at)
        for alert in sorted(result.alerts, key=worst_first):  # the worst is told first
            self.raise_alert(alert)

    def raise_alert(self, alert: Alert) -> None:
        """Show one alert in the window, on the tray icon and (if enabled) on the desktop."""
        self.banner.add_alert(alert)
        log.info("alert: %s (%s risk; shown at monotonic %.3f)", alert.title, alert.risk.value,
                 time.monotonic())
        if not getattr(self.settings, "notifications", True):
            return
        now = self._clock()
        while self._sent_at and now - self._sent_at[0] >= BURST_WINDOW:
            self._sent_at.popleft()
        if len(self._sent_at) >= BURST or self._held:
            self._held.append(alert)
            if not self._flush_timer.isActive():
                wait = BURST_WINDOW - (now - self._sent_at[0]) if self._sent_at else 0.0
                self._flush_timer.start(max(int(wait * 1000), 0))
            return
        self._send(alert)

    def _send(self, alert: Alert) -> None:
        self._sent_at.append(self._clock())
        self._notification_ids[id(alert)] = self.notifier.notify(alert)
        while len(self._notification_ids) > 4 * MAX_ALERTS:  # forget the oldest
            del self._notification_ids[next(iter(self._notification_ids))]

    def _flush_held(self) -> None:
        """Tell the alerts held back by the burst limit, in one notification."""
        held, self._held = self._held, []
        if len(held) == 1:
            self._send(held[0])
        elif held:
            self._send(more_alerts(held, time.time()))

    def set_settings(self, settings: Any) -> None:
        """New settings from Preferences: the notifications switch applies to later alerts,
        the alert rules' settings from the next poll (set in the worker's thread)."""
        self.settings = settings
        if self.acknowledger is not None:
            self.settings_requested.emit(settings)

    # -- the user's choices ------------------------------------------------------------------

    @Slot(object)
    def show_listener(self, key: ListenerKey) -> None:
        """Bring the window forward with `key` selected (notification click, Show button)."""
        log.info("showing the listener on %s port %s (pid %s)", key.proto, key.port, key.pid)
        select = getattr(self.window, "select_listener", None)
        if select is not None:
            select(key)
        else:
            show_window(self.window)

    @Slot(object)
    def acknowledge(self, alert: Alert) -> None:
        """Never alert again for the listeners of `alert` (stored by the worker's thread)."""
        self._withdraw(alert)
        if self.acknowledger is None:
            log.warning("no alert rules to acknowledge %s", alert.title)
            return
        self.acknowledge_requested.emit(tuple(alert.listeners))

    def acknowledge_all(self) -> None:
        self.banner.acknowledge_all()

    def acknowledge_listeners(self, rows: tuple[AnnotatedListener, ...]) -> None:
        """Never alert again for these listeners (the table's Acknowledge); alerts in the
        banner about them alone are taken off it."""
        if self.acknowledger is None or not rows:
            return
        identities = {identity(row) for row in rows}
        self._settle(lambda row: identity(row) in identities)
        self.acknowledge_requested.emit(tuple(rows))

    def add_ignore_rule(self, rule: IgnoreRule) -> None:
        """Store a rule in the worker's thread; alerts it covers leave the banner once it is
        stored."""
        if self.acknowledger is not None:
            self.ignore_rule_requested.emit(rule)

    def remove_ignore_rule(self, rule: IgnoreRule) -> None:
        if self.acknowledger is not None:
            self.rule_removal_requested.emit(rule)

    def unacknowledge(self, listener_identity: ListenerIdentity) -> None:
        if self.acknowledger is not None:
            self.unacknowledge_requested.emit(listener_identity)

    def request_decisions(self) -> None:
        """Ask the worker's thread for the rules and acknowledgements (`decisions_changed`)."""
        if self.acknowledger is not None:
            self.decisions_requested.emit()

    @Slot(object)
    def _rule_added(self, rule: IgnoreRule) -> None:
        self._settle(lambda row: rule.matches(row.listener))
        self._show_message(describe_rule(rule) + " (Tools > Alert rules… lists the rules)")

    def _settle(self, covered: Any) -> None:
        """Take alerts whose every listener is `covered` off the banner and the desktop."""
        for alert in self.banner.alerts():
            if alert.listeners and all(covered(row) for row in alert.listeners):
                self.banner.remove(alert)
                self._withdraw(alert)

    def _withdraw(self, alert: Alert) -> None:
        notification_id = self._notification_ids.pop(id(alert), None)
        if notification_id:
            self.notifier.withdraw(notification_id)

    def _alert_count_changed(self, count: int) -> None:
        if self.tray is not None:
            self.tray.set_alert_count(count)
            shown = self.banner.alerts()  # worst first
            self.tray.set_worst_alert(shown[0] if shown else None)

    def _show_message(self, text: str) -> None:
        show = getattr(self.window, "show_message", None)
        if show is not None:
            show(text)

    # -- tray --------------------------------------------------------------------------------

    def _connect_tray(self, tray: Tray) -> None:
        tray.show_requested.connect(lambda: show_window(self.window))
        tray.acknowledge_all_requested.connect(self.acknowledge_all)
        tray.quit_requested.connect(self.quit)
        pause_action = getattr(self.window, "pause_action", None)
        if pause_action is not None:  # one switch: the window's View > Pause monitoring
            tray.pause_requested.connect(pause_action.setChecked)
            pause_action.toggled.connect(tray.set_paused)
            tray.set_paused(pause_action.isChecked())

    def quit(self) -> None:
        """Quit from the tray menu: let the window close, then end the application."""
        if self.close_to_tray is not None:
            self.close_to_tray.quitting()
        QApplication.quit()


def install_alerting(app: QApplication, gui: Any, settings: Any,
                     polls: QObject | None = None) -> AlertCenter:
    """Alerts for the running GUI (app.py calls this once the first rows are shown, and hands
    it the polls it missed; tests call it before the worker starts).

    `gui` has `monitor`, `worker` and `window` (app.PortwatchGui). Sets the Monitor's alert
    rules (unless set already), shows the tray icon when there is a tray (then closing the
    window keeps portwatch watching from it), picks the desktop notifier and builds the
    AlertCenter that ties them together."""
    monitor = gui.monitor
    if monitor.alert_rules is None:
        monitor.alert_rules = AlertRules.from_settings(settings, MonitorAlertMemory(monitor))
    tray = Tray(app) if Tray.available() else None
    notifier = pick(tray.icon if tray is not None else None)
    center = AlertCenter(gui.window, gui.worker, settings, notifier=notifier, tray=tray,
                         rules=monitor.alert_rules, parent=app, polls=polls)
    if tray is not None:
        center.close_to_tray = keep_running_in_tray(app, gui.window, tray)
        log.info("tray icon shown; notifications: %s", notifier.name)
    else:
        log.info("no system tray: closing the window quits; notifications: %s", notifier.name)
    settings_changed = getattr(gui.window, "settings_changed", None)
    if settings_changed is not None:
        settings_changed.connect(center.set_settings)
    return center
