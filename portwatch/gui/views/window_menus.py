"""The main window's menus and dialogs: File (exports, remote hosts, Quit), View (refresh,
pause, filter), Tools (look up a port, alert rules, Preferences) and Help, and the dialogs they
open. `MenusMixin` is a part of MainWindow (which provides `filter_bar`, `details`, `settings`,
`autostart`, the signals and `status`).
"""

from __future__ import annotations

import dataclasses

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QApplication, QMessageBox

from portwatch import __version__
from portwatch.core.model import Proto
from portwatch.gui.views.export_actions import ExportActions
from portwatch.gui.views.help_dialogs import install_help
from portwatch.gui.views.host_actions import HostActions
from portwatch.gui.views.lookup_dialog import LookupDialog
from portwatch.gui.views.preferences import PreferencesDialog, apply_start_at_login


class MenusMixin:
    """The menu bar's actions and the dialogs they open (part of MainWindow)."""

    def _build_menus(self) -> None:
        bar = self.menuBar()
        self.file_menu = bar.addMenu("&File")
        self.view_menu = bar.addMenu("&View")
        self.tools_menu = bar.addMenu("&Tools")
        self.help_menu = bar.addMenu("&Help")

        self.exports = ExportActions(self)
        for action in self.exports.actions:
            self.file_menu.addAction(action)
        self.file_menu.addSeparator()
        self.file_menu.aboutToShow.connect(self.exports.update_enabled)
        # File > Add host… and Remove host: other machines read over ssh (host_actions.py)
        self.host_actions = HostActions(self)
        self.file_menu.addAction(self.host_actions.add_action)
        self.file_menu.addMenu(self.host_actions.remove_menu)
        self.file_menu.addMenu(self.host_actions.alerts_menu)
        self.file_menu.addSeparator()

        self.quit_action = QAction("&Quit", self)
        self.quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        self.quit_action.setMenuRole(QAction.MenuRole.QuitRole)
        self.quit_action.triggered.connect(QApplication.quit)
        self.file_menu.addAction(self.quit_action)

        self.refresh_action = QAction("&Refresh now", self)
        self.refresh_action.setShortcut(QKeySequence.StandardKey.Refresh)
        self.refresh_action.triggered.connect(self.refresh_requested)
        self.pause_action = QAction("&Pause monitoring", self)
        self.pause_action.setCheckable(True)
        self.pause_action.toggled.connect(self._pause_toggled)
        self.filter_action = QAction("&Filter…", self)
        self.filter_action.setShortcut(QKeySequence.StandardKey.Find)
        self.filter_action.triggered.connect(self.filter_bar.focus_search)
        self.clear_filter_action = QAction("&Show all listeners", self)
        self.clear_filter_action.triggered.connect(self.clear_filter)
        for action in (self.refresh_action, self.pause_action, self.filter_action,
                       self.clear_filter_action):
            self.view_menu.addAction(action)

        self.lookup_action = QAction("&Look up a port…", self)
        self.lookup_action.setShortcut(QKeySequence("Ctrl+L"))
        self.lookup_action.triggered.connect(lambda: self.open_lookup())
        self.preferences_action = QAction("&Preferences…", self)
        self.preferences_action.setShortcut(QKeySequence.StandardKey.Preferences)
        self.preferences_action.setMenuRole(QAction.MenuRole.PreferencesRole)
        self.preferences_action.triggered.connect(self.open_preferences)
        self.alert_rules_action = QAction("&Alert rules…", self)
        self.alert_rules_action.setObjectName("alertRulesAction")
        self.alert_rules_action.setToolTip("The ignore rules and acknowledged listeners, each"
                                           " removable")
        self.alert_rules_action.setEnabled(False)
        self.alert_rules_action.triggered.connect(self.alert_rules_requested)
        self.tools_menu.addAction(self.lookup_action)
        self.tools_menu.addAction(self.alert_rules_action)
        self.tools_menu.addAction(self.preferences_action)

        self.about_action = QAction("&About portwatch", self)
        self.about_action.setMenuRole(QAction.MenuRole.AboutRole)
        self.about_action.triggered.connect(self.show_about)
        self.help_menu.addAction(self.about_action)
        install_help(self, self.help_menu, self.about_action)  # Manual, Keyboard shortcuts

    # --- dialogs ------------------------------------------------------------------------------
    def open_lookup(self, port: int | None = None, proto: Proto | None = None) -> LookupDialog:
        if self._lookup is None:
            self._lookup = LookupDialog(self.catalog, self)
        if port is not None:
            self._lookup.show_port(port, proto or Proto.TCP)
        self._lookup.show()
        self._lookup.raise_()
        self._lookup.activateWindow()
        return self._lookup

    def open_preferences(self) -> PreferencesDialog:
        """Open Preferences (window-modal, returns at once). On OK: start at login is written
        or removed at once, and `settings_changed` carries the new settings when any changed."""
        if self._preferences is not None:
            self._preferences.raise_()
            self._preferences.activateWindow()
            return self._preferences
        dialog = PreferencesDialog(self.settings, self, autostart_backend=self.autostart)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self._preferences_accepted(dialog))
        dialog.finished.connect(self._preferences_closed)
        self._preferences = dialog
        dialog.open()
        return dialog

    def _preferences_closed(self, _result: int) -> None:
        self._preferences = None

    def _preferences_accepted(self, dialog: PreferencesDialog) -> None:
        # hosts are the File menu's: one added (or its alerts switched) while the dialog was
        # open stays as it is now
        new = dataclasses.replace(dialog.result_settings(), hosts=self.settings.hosts,
                                  hosts_without_alerts=self.settings.hosts_without_alerts)
        at_login, problem = apply_start_at_login(new.start_at_login, self.autostart)
        if at_login != new.start_at_login:
            new = dataclasses.replace(new, start_at_login=at_login)
        if problem:
            box = QMessageBox(QMessageBox.Icon.Warning, "Start at login", "",
                              QMessageBox.StandardButton.Ok, self)
            box.setTextFormat(Qt.TextFormat.PlainText)
            box.setText(problem)
            box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            box.open()
        if new != self.settings:
            self.settings = new
            self.settings_changed.emit(new)

    def show_about(self) -> None:
        QMessageBox.about(
            self, "About portwatch",
            f"<h3>portwatch {__version__}</h3>"
            "<p>Shows every port listening on this computer, which program opened it, what the"
            " port means (its IANA registration, the software that really uses it, its"
            " security history) and whether to worry.</p><p>MIT licence.</p>")

    def _pause_toggled(self, paused: bool) -> None:
        self.pause_requested.emit(paused)
        self.status.set_paused(paused)
        self.show_message("Monitoring paused." if paused else "Monitoring resumed.")
