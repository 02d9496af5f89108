"""Tools > Preferences: the settings a user changes in the window (poll interval, start
minimised). Returns a new frozen Settings; saving is the caller's job."""

from __future__ import annotations

import dataclasses

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QVBoxLayout,
    QWidget,
)

from portwatch.core.settings import RULES, Settings


class PreferencesDialog(QDialog):
    """Edit a copy of `settings`; `result_settings()` gives the edited value after accept.

    Other settings get their controls by adding rows to `form` and extending
    `result_settings()`."""

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        self._settings = settings
        rule = RULES["poll_interval"]
        self.interval = QDoubleSpinBox(self)
        self.interval.setObjectName("prefPollInterval")
        self.interval.setRange(rule.low or 0.5, rule.high or 60.0)
        self.interval.setDecimals(1)
        self.interval.setSingleStep(0.5)
        self.interval.setSuffix(" s")
        self.interval.setValue(settings.poll_interval)
        self.interval.setToolTip("How often portwatch looks for listening sockets (0.5–60 s)")
        self.start_minimised = QCheckBox("Start minimised to the tray", self)
        self.start_minimised.setObjectName("prefStartMinimised")
        self.start_minimised.setChecked(settings.start_minimised)

        self.form = QFormLayout()
        self.form.addRow("Scan every:", self.interval)
        self.form.addRow("", self.start_minimised)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(self.form)
        layout.addWidget(buttons)

    def result_settings(self) -> Settings:
        return dataclasses.replace(
            self._settings,
            poll_interval=float(self.interval.value()),
            start_minimised=self.start_minimised.isChecked(),
        )
