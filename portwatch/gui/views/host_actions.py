"""File > Add host…, Remove host and Alerts from host: the other machines the window reads
over ssh.

`AddHostDialog` asks for an ssh destination (USER@HOST, HOST or a Host alias of
~/.ssh/config) and checks it as `portwatch list --host` does (core/remote.py's `check_host`):
OK stays disabled and a sentence says why while the text is not one (an ssh option such as
`-oProxyCommand=…`, spaces, shell characters, a host already added). `HostActions` adds or
removes the host in the window's settings and emits the window's `settings_changed` (the
composition root saves them and tells the worker, which polls the hosts). The Remove host
menu names each host with its state (from the status bar's latest statuses). Alerts from host
has a check box per host: unticked, the host is in `hosts_without_alerts` and its listeners
alert no one (they still show and are recorded; core/hosts.py drops their alerts).
"""

from __future__ import annotations

import dataclasses

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QMenu,
    QVBoxLayout,
    QWidget,
)

from portwatch.core.model import Risk
from portwatch.core.probe.remote import check_host
from portwatch.core.text import visible
from portwatch.gui.style import risk_style
from portwatch.gui.style.plain import plain_label

EXPLANATION = (
    "portwatch runs `portwatch list --json` on that machine through your OpenSSH client, so"
    " your ~/.ssh/config, keys and agent apply; it never asks for or stores a password (a login"
    " that needs one fails with ssh's message). portwatch must be installed there. Its"
    " listeners join the table with their host in the Host column.")


def host_problem(text: str, existing: tuple[str, ...]) -> str | None:
    """Why `text` cannot be added as a host (None: it can)."""
    text = text.strip()
    if not text:
        return "Type an ssh destination: USER@HOST, HOST or a Host alias from ~/.ssh/config."
    try:
        check_host(text)
    except ValueError:
        return (f"{visible(text, 80)!r} is not an ssh destination: use USER@HOST, HOST or a"
                " Host alias from ~/.ssh/config (letters, digits, '.', '_', '-', '+', one '@';"
                " an IPv6 address; never an option starting with '-').")
    if text in existing:
        return f"{visible(text, 80)} is added already."
    return None


class AddHostDialog(QDialog):
    """Asks for one ssh destination; `host()` is the checked text once accepted."""

    def __init__(self, existing: tuple[str, ...], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("addHostDialog")
        self.setWindowTitle("Add host")
        self._existing = existing
        self.edit = QLineEdit(self)
        self.edit.setObjectName("hostEdit")
        self.edit.setPlaceholderText("user@host or an ssh_config alias")
        self.edit.setAccessibleName("SSH destination")
        self.edit.setAccessibleDescription("USER@HOST, HOST or a Host alias from ~/.ssh/config")
        label = QLabel("SSH &destination:", self)
        label.setBuddy(self.edit)
        about = plain_label(EXPLANATION, self)
        about.setWordWrap(True)
        self.problem = plain_label("", self)
        self.problem.setObjectName("hostProblem")
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet(f"color: {risk_style.risk_text_color(Risk.HIGH)};")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel, self)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Add host")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        for widget in (about, label, self.edit, self.problem, self.buttons):
            layout.addWidget(widget)
        self.edit.textChanged.connect(self._check)
        self._check()
        self.resize(520, self.sizeHint().height())

    def _check(self, *_args: object) -> None:
        problem = host_problem(self.edit.text(), self._existing)
        typed = bool(self.edit.text().strip())
        self.problem.setText(problem if problem and typed else "")
        self.problem.setVisible(bool(problem and typed))
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(problem is None)

    def accept(self) -> None:
        if host_problem(self.edit.text(), self._existing) is None:
            super().accept()

    def host(self) -> str:
        return self.edit.text().strip()


class HostActions(QObject):
    """The File menu's Add host… action and its Remove host and Alerts from host submenus of
    `window` (a MainWindow: `settings`, `settings_changed`, `status`, `show_message`,
    `table`)."""

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.dialog: AddHostDialog | None = None
        self.add_action = QAction("&Add host…", window)
        self.add_action.setObjectName("addHostAction")
        self.add_action.setToolTip("Show another machine's listeners too, read over ssh")
        self.add_action.triggered.connect(self.open_add_dialog)
        self.remove_menu = QMenu("&Remove host", window)
        self.remove_menu.setObjectName("removeHostMenu")
        self.remove_menu.aboutToShow.connect(self._fill_remove_menu)
        self.alerts_menu = QMenu("Alerts &from host", window)
        self.alerts_menu.setObjectName("hostAlertsMenu")
        self.alerts_menu.setToolTip("Whether each host's new listeners alert")
        self.alerts_menu.aboutToShow.connect(self._fill_alerts_menu)
        for menu in (self.remove_menu, self.alerts_menu):
            menu.setEnabled(bool(window.settings.hosts))

    def open_add_dialog(self) -> AddHostDialog:
        """Open the dialog (window-modal; returns at once)."""
        if self.dialog is not None:
            self.dialog.raise_()
            return self.dialog
        dialog = AddHostDialog(self.window.settings.hosts, self.window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self.add_host(dialog.host()))
        dialog.finished.connect(self._dialog_closed)
        self.dialog = dialog
        dialog.open()
        return dialog

    def _dialog_closed(self, _result: int) -> None:
        self.dialog = None

    def add_host(self, host: str) -> None:
        """Remember `host` and start reading it (its column is shown)."""
        hosts = self.window.settings.hosts
        if host_problem(host, hosts) is not None:
            return
        self._set_hosts((*hosts, host))
        self.window.show_host_column()
        self.window.show_message(f"Added {visible(host, 80)}: connecting with ssh…")

    def remove_host(self, host: str) -> None:
        hosts = self.window.settings.hosts
        if host in hosts:
            self._set_hosts(tuple(item for item in hosts if item != host))
            self.window.show_message(f"Removed {visible(host, 80)}; its listeners left the"
                                     " table.")

    def set_alerts(self, host: str, on: bool) -> None:
        """Let `host`'s new listeners alert (on) or not (off); remembered in the settings."""
        settings = self.window.settings
        if host not in settings.hosts or (host not in settings.hosts_without_alerts) == on:
            return
        quiet = tuple(item for item in settings.hosts_without_alerts if item != host)
        self._change(dataclasses.replace(settings, hosts_without_alerts=quiet if on
                                         else (*quiet, host)))
        status = self.window.status  # at once; the host's next answer says the same
        status.show_hosts(tuple(
            dataclasses.replace(item, alerts=item.host not in self.window.settings
                                .hosts_without_alerts) for item in status.hosts_statuses))
        name = visible(host, 80)
        self.window.show_message(
            f"Alerts from {name} are on: what it opens from now on alerts." if on else
            f"Alerts from {name} are off: its listeners still show in the table and the"
            " history.")

    def _set_hosts(self, hosts: tuple[str, ...]) -> None:
        quiet = tuple(item for item in self.window.settings.hosts_without_alerts
                      if item in hosts)  # a removed host's choice goes with it
        self._change(dataclasses.replace(self.window.settings, hosts=hosts,
                                         hosts_without_alerts=quiet))

    def _change(self, settings) -> None:
        self.window.settings = settings
        for menu in (self.remove_menu, self.alerts_menu):
            menu.setEnabled(bool(settings.hosts))
        self.window.settings_changed.emit(settings)

    def _fill_remove_menu(self) -> None:
        self.remove_menu.clear()
        states = {status.host: status.text for status in self.window.status.hosts_statuses}
        for host in self.window.settings.hosts:
            action = self.remove_menu.addAction(visible(host, 80))
            action.setToolTip(visible(states.get(host, host), 600))
            action.setStatusTip(action.toolTip())
            action.triggered.connect(lambda _checked=False, host=host: self.remove_host(host))

    def _fill_alerts_menu(self) -> None:
        self.alerts_menu.clear()
        quiet = self.window.settings.hosts_without_alerts
        for host in self.window.settings.hosts:
            # the state in words too: an unticked box is faint in the dark palette
            action = self.alerts_menu.addAction(visible(host, 80) + (
                "  (alerts off)" if host in quiet else ""))
            action.setCheckable(True)
            action.setChecked(host not in quiet)
            action.setToolTip(f"Alert when {visible(host, 200)} opens a new listener")
            action.setStatusTip(action.toolTip())
            action.toggled.connect(lambda on, host=host: self.set_alerts(host, on))
