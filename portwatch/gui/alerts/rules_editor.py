"""Opens the dialogs of the user's alert decisions and carries what they ask to the AlertCenter,
which sends it to the alert rules in the worker's thread.

Where the user can ask: Ignore… on an alert in the banner, under the details and in the table's
right-click menu (with Acknowledge), and Tools > Alert rules…. The window and the banner only
emit; `AlertRulesEditor` connects them, so a window without alert rules keeps those entries
disabled. The Alert rules dialog asks the worker for the lists when it opens and shows each
`Decisions` the worker sends after a change; nothing here reads the history file.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QObject, Qt, Slot
from PySide6.QtWidgets import QDialog, QWidget

from portwatch.core.alerts.decisions import Decisions, describe_identity
from portwatch.core.model import Alert, AnnotatedListener, ListenerIdentity
from portwatch.gui.alerts.ignore_dialog import IgnoreDialog
from portwatch.gui.alerts.rules_dialog import AlertRulesDialog

log = logging.getLogger(__name__)


class AlertRulesEditor(QObject):
    """Ties the window's and the banner's requests to `center` (an AlertCenter with alert
    rules). `last_decisions` is what the worker sent last (None before it answered)."""

    def __init__(self, center: Any, window: QWidget, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.center = center
        self.window = window
        self.last_decisions: Decisions | None = None
        self.ignore_dialog: IgnoreDialog | None = None
        self.rules_dialog: AlertRulesDialog | None = None

        center.decisions_changed.connect(self._decisions_changed)
        center.acknowledger.failed.connect(self._failed)
        center.banner.ignore_requested.connect(self.ignore_alert)
        center.banner.set_ignore_available(True)
        for name, slot in (("ignore_requested", self.open_ignore_dialog),
                           ("acknowledge_requested", self.acknowledge),
                           ("alert_rules_requested", self.open_rules_dialog)):
            signal = getattr(window, name, None)
            if signal is not None:
                signal.connect(slot)
        enable = getattr(window, "enable_alert_rules", None)
        if enable is not None:
            enable(True)

    # -- Ignore… -------------------------------------------------------------------------------

    @Slot(object)
    def ignore_alert(self, alert: Alert) -> None:
        """Ignore… on an alert: a rule from its riskiest listener (the first)."""
        if alert.listeners:
            self.open_ignore_dialog(alert.listeners[0])

    @Slot(object)
    def open_ignore_dialog(self, row: AnnotatedListener) -> IgnoreDialog:
        """Open the Ignore dialog for `row` (window-modal, returns at once); OK stores the
        rule in the worker's thread."""
        if self.ignore_dialog is not None:
            self.ignore_dialog.reject()
        dialog = IgnoreDialog(row, self.window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.finished.connect(lambda result: self._ignore_finished(dialog, result))
        self.ignore_dialog = dialog
        dialog.open()
        return dialog

    def _ignore_finished(self, dialog: IgnoreDialog, result: int) -> None:
        if self.ignore_dialog is dialog:
            self.ignore_dialog = None
        if result == QDialog.DialogCode.Accepted:
            self.center.add_ignore_rule(dialog.rule())

    @Slot(object)
    def acknowledge(self, row: AnnotatedListener) -> None:
        """Acknowledge in the table's menu: never alert for this listener's identity."""
        self.center.acknowledge_listeners((row,))
        self._say(f"Acknowledged {describe_identity(ListenerIdentity.of(row.listener))}:"
                  " it never alerts again (Tools > Alert rules… lists it).")

    def _say(self, text: str) -> None:
        show = getattr(self.window, "show_message", None)
        if show is not None:
            show(text)

    # -- Tools > Alert rules… --------------------------------------------------------------------

    @Slot()
    def open_rules_dialog(self) -> AlertRulesDialog:
        """Show the Alert rules dialog (one at a time) and ask the worker for the lists."""
        if self.rules_dialog is None:
            dialog = AlertRulesDialog(self.window)
            dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            dialog.remove_rule_requested.connect(self.center.remove_ignore_rule)
            dialog.unacknowledge_requested.connect(self.center.unacknowledge)
            dialog.finished.connect(self._rules_dialog_closed)
            self.rules_dialog = dialog
            if self.last_decisions is not None:
                dialog.show_decisions(self.last_decisions)
        self.center.request_decisions()
        self.rules_dialog.show()
        self.rules_dialog.raise_()
        self.rules_dialog.activateWindow()
        return self.rules_dialog

    def _rules_dialog_closed(self, _result: int) -> None:
        self.rules_dialog = None

    @Slot(object)
    def _decisions_changed(self, decisions: Decisions) -> None:
        self.last_decisions = decisions
        if self.rules_dialog is not None:
            self.rules_dialog.show_decisions(decisions)

    @Slot(str)
    def _failed(self, text: str) -> None:
        if self.rules_dialog is not None:
            self.rules_dialog.show_problem(text)
