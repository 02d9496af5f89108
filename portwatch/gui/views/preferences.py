"""Tools > Preferences: every user setting, grouped as Monitoring, Alerts and History.

The dialog edits a copy: `result_settings()` gives a new frozen Settings after OK; saving it
(atomically, core/store/settings.py) and applying it to the running program is the caller's job —
the poll interval goes to the worker, notifications to the AlertCenter and the alert rules'
settings to the worker's thread (app.py, alerting.py). "Start at login" is the one setting
with an effect outside portwatch: `apply_start_at_login()` writes or removes the autostart
entry (core/desktop/autostart.py), and the dialog shows whether that entry exists when it opens, not
what the settings file says. Two settings act only when portwatch starts, and the dialog says
so: start minimised, and how long history is kept.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from portwatch.core.desktop import autostart
from portwatch.core.store.settings import RULES, Settings

log = logging.getLogger(__name__)

# Shown under the groups: which settings wait for the next start.
RESTART_NOTE = ("Changes apply when you press OK, except “Start minimised” and the two history"
                " limits, which take effect the next time portwatch starts.")


@dataclass(frozen=True)
class Autostart:
    """The start-at-login backend (core/desktop/autostart.py); tests pass a temp-dir one."""

    supported: Callable[[], bool] = autostart.autostart_supported
    enabled: Callable[[], bool] = autostart.autostart_enabled
    enable: Callable[[], object] = autostart.enable_autostart
    disable: Callable[[], object] = autostart.disable_autostart


def apply_start_at_login(wanted: bool, backend: Autostart | None = None
                         ) -> tuple[bool, str | None]:
    """Write or remove the autostart entry so that it matches `wanted`. Returns whether
    portwatch now starts at login, and a sentence for the user when that could not be done."""
    backend = backend or Autostart()
    try:
        current = backend.enabled()
        if wanted == current:
            return current, None
        if wanted:
            backend.enable()
        else:
            backend.disable()
    except (autostart.AutostartError, OSError, ValueError) as exc:
        log.warning("start at login: %s", exc)
        return backend.enabled(), f"“Start at login” could not be changed: {exc}."
    return backend.enabled(), None


class CountSpinBox(QSpinBox):
    """A whole number with its noun, singular or plural ("1 more scan", "4 more scans")."""

    def __init__(self, parent: QWidget, singular: str, plural: str) -> None:
        super().__init__(parent)
        self._nouns = (singular, plural)

    def textFromValue(self, value: int) -> str:
        return f"{value} {self._nouns[value != 1]}"

    def valueFromText(self, text: str) -> int:
        digits = "".join(ch for ch in text if ch.isdigit())
        return int(digits) if digits else self.minimum()

    def validate(self, text: str, pos: int) -> object:
        # Digits alone are fine while typing; fixup() adds the noun when editing ends.
        digits = "".join(ch for ch in text if ch.isdigit())
        if not digits:
            return (QValidator.State.Acceptable if text == self.specialValueText()
                    else QValidator.State.Intermediate), text, pos
        value = int(digits)
        if not self.minimum() <= value <= self.maximum():
            return QValidator.State.Intermediate, text, pos
        state = (QValidator.State.Acceptable if text == self.textFromValue(value)
                 else QValidator.State.Intermediate)
        return state, text, pos

    def fixup(self, text: str) -> str:
        value = min(max(self.valueFromText(text), self.minimum()), self.maximum())
        if value == self.minimum() and self.specialValueText():
            return self.specialValueText()
        return self.textFromValue(value)


def _spin(parent: QWidget, name: str, nouns: tuple[str, str], tip: str,
          low: float | None = None) -> QSpinBox:
    rule = RULES[name]
    box = CountSpinBox(parent, *nouns)
    box.setRange(int(low if low is not None else rule.low or 0), int(rule.high or 1_000_000))
    box.setToolTip(tip)
    box.setObjectName("pref_" + name)
    return box


def _form(group: QGroupBox, label_width: int) -> QFormLayout:
    """A form whose labels line up with the other groups' and whose fields keep their size."""
    form = QFormLayout(group)
    form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.FieldsStayAtSizeHint)
    form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    form.setProperty("labelWidth", label_width)
    return form


def _row(form: QFormLayout, label: str, field: QWidget) -> None:
    text = QLabel(label)
    text.setMinimumWidth(int(form.property("labelWidth")))
    text.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    text.setBuddy(field)
    form.addRow(text, field)


class PreferencesDialog(QDialog):
    """Edit a copy of `settings`; `result_settings()` gives the edited value after accept."""

    def __init__(self, settings: Settings, parent: QWidget | None = None, *,
                 autostart_backend: Autostart | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        self.setObjectName("preferencesDialog")
        self._settings = settings
        self.autostart = autostart_backend or Autostart()

        # -- Monitoring --
        rule = RULES["poll_interval"]
        self.interval = QDoubleSpinBox(self)
        self.interval.setObjectName("prefPollInterval")
        self.interval.setRange(rule.low or 0.5, rule.high or 60.0)
        self.interval.setDecimals(1)
        self.interval.setSingleStep(0.5)
        self.interval.setSuffix(" s")
        self.interval.setToolTip("How often portwatch looks for listening sockets (0.5–60 s)")
        self.start_minimised = QCheckBox("Start minimised to the tray", self)
        self.start_minimised.setObjectName("prefStartMinimised")
        self.start_minimised.setToolTip("Open only the tray icon when portwatch starts (when the"
                                        " desktop has a tray); takes effect at the next start")
        self.start_at_login = QCheckBox("Start portwatch when I log in", self)
        self.start_at_login.setObjectName("prefStartAtLogin")
        try:
            entry = str(autostart.autostart_file())
        except Exception:  # no home directory: the tooltip is all that is lost
            entry = "the desktop's autostart folder"
        self.start_at_login.setToolTip(f"Adds portwatch to the programs your desktop starts at"
                                       f" login ({entry})")
        labels = ("Scan every:", "Alert when still open after:", "Summarise new listeners:",
                  "Alerts of one program at most every:", "Keep history for:",
                  "Keep the history file under:")
        width = max(self.fontMetrics().horizontalAdvance(text) for text in labels) + 8
        monitoring = QGroupBox("Monitoring", self)
        form = _form(monitoring, width)
        _row(form, labels[0], self.interval)
        _row(form, "", self.start_minimised)
        _row(form, "", self.start_at_login)

        # -- Alerts --
        self.notifications = QCheckBox("Show a desktop notification for each alert", self)
        self.notifications.setObjectName("prefNotifications")
        self.notifications.setToolTip("Alerts always appear in the window's Alerts list and on the"
                                      " tray icon; this adds a desktop notification")
        self.min_polls = _spin(self, "alert_min_polls", ("more scan", "more scans"),
                               "A new listener must still be there this many scans later before"
                               " it alerts, so short-lived sockets stay quiet (0: at once)")
        self.min_polls.setSpecialValueText("at once")
        self.ephemeral_udp = QCheckBox("Also alert for UDP sockets on ephemeral ports", self)
        self.ephemeral_udp.setObjectName("prefEphemeralUdp")
        self.ephemeral_udp.setToolTip("UDP sockets on the ports the system hands to clients are"
                                      " usually programs waiting for a reply (DNS lookups,"
                                      " media), not services")
        self.first_remote = QCheckBox("Alert on a listener's first connection from the network",
                                      self)
        self.first_remote.setObjectName("prefFirstRemote")
        self.first_remote.setToolTip("Once per program and port while portwatch runs: another"
                                     " machine connected to it (connections from this machine"
                                     " do not count)")
        self.coalesce = _spin(self, "alert_coalesce", ("or more at once", "or more at once"),
                              "When this many new listeners appear in one scan, they become"
                              " one summary alert", low=2)
        rate = RULES["alert_rate_limit"]
        self.rate_limit = QDoubleSpinBox(self)
        self.rate_limit.setObjectName("pref_alert_rate_limit")
        self.rate_limit.setRange(rate.low or 0.0, rate.high or 86400.0)
        self.rate_limit.setDecimals(0)
        self.rate_limit.setSingleStep(10)
        self.rate_limit.setSuffix(" s")
        self.rate_limit.setSpecialValueText("no limit")
        self.rate_limit.setToolTip("Alerts for a program that alerted less than this long ago"
                                   " are held, then told together in one summary")
        alerts = QGroupBox("Alerts", self)
        form = _form(alerts, width)
        _row(form, "", self.notifications)
        _row(form, labels[1], self.min_polls)
        _row(form, labels[2], self.coalesce)
        _row(form, labels[3], self.rate_limit)
        _row(form, "", self.ephemeral_udp)
        _row(form, "", self.first_remote)

        # -- Appearance --
        self.color_scheme = QComboBox(self)
        self.color_scheme.setObjectName("prefColorScheme")
        for value, text in (("system", "As the desktop (system)"), ("light", "Light"),
                            ("dark", "Dark")):
            self.color_scheme.addItem(text, value)
        self.color_scheme.setToolTip("The window's colours: the desktop's colour scheme, or"
                                     " always light or dark; applied at once")
        self.color_scheme.setAccessibleName("Colour scheme")
        appearance = QGroupBox("Appearance", self)
        form = _form(appearance, width)
        _row(form, "Colours:", self.color_scheme)

        # -- History --
        self.retention = _spin(self, "history_retention_days", ("day", "days"),
                               "Events older than this are deleted from the history file"
                               " (when portwatch starts, then once a day)")
        self.max_mb = _spin(self, "history_max_mb", ("MB", "MB"),
                            "When the history file reaches this size, its oldest events are"
                            " deleted first (checked every minute while recording)")
        history = QGroupBox("History", self)
        form = _form(history, width)
        _row(form, labels[4], self.retention)
        _row(form, labels[5], self.max_mb)

        self.note = QLabel(RESTART_NOTE, self)
        self.note.setObjectName("prefRestartNote")
        self.note.setTextFormat(Qt.TextFormat.PlainText)
        self.note.setWordWrap(True)
        self.note.setEnabled(False)  # drawn in the muted colour

        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        boxes = (self.interval, self.min_polls, self.coalesce, self.rate_limit, self.retention,
                 self.max_mb)
        widest = max(box.sizeHint().width() for box in boxes)
        for box in boxes:
            box.setMinimumWidth(widest)
        layout = QVBoxLayout(self)
        for group in (monitoring, alerts, appearance, history):
            layout.addWidget(group)
        layout.addWidget(self.note)
        layout.addWidget(buttons)
        self.show_settings(settings)

    def show_settings(self, settings: Settings) -> None:
        """Put `settings` into the controls; "start at login" shows the autostart entry's
        state (the file can be changed by the desktop's own settings)."""
        self.interval.setValue(settings.poll_interval)
        self.start_minimised.setChecked(settings.start_minimised)
        supported = self.autostart.supported()
        self.start_at_login.setEnabled(supported)
        if not supported:
            self.start_at_login.setToolTip("Not available on this system")
        try:
            at_login = self.autostart.enabled() if supported else False
        except Exception as exc:
            log.warning("start at login: cannot tell whether it is on (%s)", exc)
            at_login = settings.start_at_login
        self.start_at_login.setChecked(at_login)
        self.notifications.setChecked(settings.notifications)
        self.min_polls.setValue(settings.alert_min_polls)
        self.ephemeral_udp.setChecked(settings.alert_ephemeral_udp)
        self.first_remote.setChecked(settings.alert_first_remote)
        self.coalesce.setValue(settings.alert_coalesce)
        self.rate_limit.setValue(settings.alert_rate_limit)
        self.retention.setValue(settings.history_retention_days)
        self.max_mb.setValue(settings.history_max_mb)
        self.color_scheme.setCurrentIndex(max(self.color_scheme.findData(settings.color_scheme),
                                              0))

    def result_settings(self) -> Settings:
        for box in (self.interval, self.min_polls, self.coalesce, self.rate_limit,
                    self.retention, self.max_mb):
            box.interpretText()  # a number still being typed counts
        return dataclasses.replace(
            self._settings,
            poll_interval=float(self.interval.value()),
            start_minimised=self.start_minimised.isChecked(),
            start_at_login=self.start_at_login.isChecked(),
            notifications=self.notifications.isChecked(),
            alert_min_polls=int(self.min_polls.value()),
            alert_ephemeral_udp=self.ephemeral_udp.isChecked(),
            alert_first_remote=self.first_remote.isChecked(),
            alert_coalesce=self._coalesce(),
            alert_rate_limit=float(self.rate_limit.value()),
            history_retention_days=int(self.retention.value()),
            history_max_mb=int(self.max_mb.value()),
            color_scheme=str(self.color_scheme.currentData()),
        )

    def _coalesce(self) -> int:
        # The rules treat 1 as 2 (one listener is not a summary); the box starts at 2, so an
        # untouched box keeps the file's 1 rather than count as a change.
        value = int(self.coalesce.value())
        original = self._settings.alert_coalesce
        return original if value == max(2, original) else value
