"""The row of filter controls above the table: a search field, five toggles and, once remote
hosts are added, the machine (all, this one, or one host), then the count of rows shown.

The row fits any window the desktop allows (1280 px with the Alerts dock open, a remote host
chosen and "12345 of 22001 shown"): the count keeps its whole text, and when the row is too
narrow the search field, the machine's name and the toggles' texts give way, the toggles'
texts elided with "…" (their accessible names keep the whole text, their tooltips say what
they do)."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QPaintEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLineEdit,
    QSizePolicy,
    QStyle,
    QStyleOptionButton,
    QStylePainter,
    QWidget,
)

from portwatch.core.text import visible
from portwatch.gui.models.filter_proxy import ALL_MACHINES, THIS_MACHINE, ListenerFilter
from portwatch.gui.style.plain import plain_label


class ElidedCheckBox(QCheckBox):
    """A check box whose text is elided ("Reachable from the n…") when it is given less
    than its full width; at least its box and a few letters. The text itself (its
    accessible name) stays whole."""

    def __init__(self, text: str, parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        policy = self.sizePolicy()
        policy.setHorizontalPolicy(QSizePolicy.Policy.Preferred)  # (a check box's is Fixed)
        self.setSizePolicy(policy)

    def minimumSizeHint(self) -> QSize:
        hint = super().sizeHint()
        short = self.fontMetrics().horizontalAdvance(self.text()[:3] + "…")
        full = self.fontMetrics().horizontalAdvance(self.text())
        return QSize(hint.width() - max(full - short, 0), hint.height())

    def paintEvent(self, _event: QPaintEvent) -> None:
        painter = QStylePainter(self)
        option = QStyleOptionButton()
        self.initStyleOption(option)
        room = self.style().subElementRect(QStyle.SubElement.SE_CheckBoxContents, option,
                                           self).width()
        option.text = self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight,
                                                    room)
        painter.drawControl(QStyle.ControlElement.CE_CheckBox, option)


class FilterBar(QWidget):
    """Emits `filter_changed(ListenerFilter)` whenever a control changes."""

    filter_changed = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.search = QLineEdit(self)
        self.search.setObjectName("filterText")
        self.search.setPlaceholderText("Filter by process, port, service, address or user")
        self.search.setClearButtonEnabled(True)
        self.search.setMinimumWidth(120)  # the window (with the Alerts dock) fits 1280 px
        self.search.setAccessibleName("Filter listeners")
        self.search.setAccessibleDescription("Shows only the listeners whose process, port,"
                                             " service, address, user or known uses contain"
                                             " this text (Ctrl+F)")
        self.tcp = self._toggle("TCP", True, "Show TCP listeners")
        self.udp = self._toggle("UDP", True, "Show UDP sockets")
        self.network_only = self._toggle(
            "Reachable from the network only", False,
            "Hide listeners bound to loopback (127.0.0.1, ::1): only this machine reaches them")
        self.unknown_only = self._toggle(
            "Not in catalog only", False,
            "Show only ports with no IANA registration and nothing known about them")
        self.all_netns = self._toggle(
            "Other network namespaces", False,
            "Also show listeners inside containers, `ip netns` namespaces and sandboxes (seen"
            " when portwatch runs as root); reach is judged by each namespace's own interfaces")
        self.machine = QComboBox(self)
        self.machine.setObjectName("filterHost")
        self.machine.setAccessibleName("Machine")
        self.machine.setToolTip("Whose listeners to show: every machine's, this machine's or"
                                " one remote host's (File > Add host…)")
        self.machine.setAccessibleDescription(self.machine.toolTip())
        # a long ssh destination is elided rather than widening the row
        self.machine.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.machine.setMinimumContentsLength(12)
        self.machine.addItem("All machines", ALL_MACHINES)
        self.machine.addItem("This machine", THIS_MACHINE)
        self.machine.currentIndexChanged.connect(self._changed)
        self.machine.hide()  # until a remote host is added
        self.count = plain_label("", self)
        self.count.setObjectName("filterCount")
        self.count.setAccessibleName("Listeners shown")
        self.count.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        # never narrower than its text: the others give way (module docstring)
        self.count.setSizePolicy(QSizePolicy.Policy.Minimum, QSizePolicy.Policy.Preferred)

        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.search, 2)
        for box in (self.tcp, self.udp, self.network_only, self.unknown_only, self.all_netns):
            layout.addWidget(box)
        layout.addWidget(self.machine)
        layout.addStretch(1)
        layout.addWidget(self.count)

        self.search.textChanged.connect(self._changed)
        # Ctrl+F belongs to the window's View > Filter… action, which calls focus_search(): a
        # second shortcut here made Qt call the key ambiguous and do nothing.

    def _toggle(self, text: str, checked: bool, tip: str) -> QCheckBox:
        box = ElidedCheckBox(text, self)
        box.setChecked(checked)
        box.setToolTip(tip)
        box.setAccessibleDescription(tip)
        box.toggled.connect(self._changed)
        return box

    def focus_search(self) -> None:
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    def current(self) -> ListenerFilter:
        return ListenerFilter(
            text=self.search.text(),
            tcp=self.tcp.isChecked(),
            udp=self.udp.isChecked(),
            network_only=self.network_only.isChecked(),
            unknown_only=self.unknown_only.isChecked(),
            all_netns=self.all_netns.isChecked(),
            host=self.machine.currentData() or THIS_MACHINE,
        )

    def set_filter(self, wanted: ListenerFilter) -> None:
        """Show `wanted` in the controls (emits filter_changed once)."""
        controls = (self.search, self.tcp, self.udp, self.network_only, self.unknown_only,
                    self.all_netns, self.machine)
        for control in controls:
            control.blockSignals(True)
        try:
            self.search.setText(wanted.text)
            self.tcp.setChecked(wanted.tcp)
            self.udp.setChecked(wanted.udp)
            self.network_only.setChecked(wanted.network_only)
            self.unknown_only.setChecked(wanted.unknown_only)
            self.all_netns.setChecked(wanted.all_netns)
            self.machine.setCurrentIndex(max(self.machine.findData(wanted.host), 0))
        finally:
            for control in controls:
                control.blockSignals(False)
        self._changed()

    def set_hosts(self, hosts: tuple[str, ...]) -> None:
        """Offer these remote hosts (and keep the choice when its host is still there; a
        removed host's choice becomes all machines)."""
        chosen = self.machine.currentData()
        self.machine.blockSignals(True)
        try:
            while self.machine.count() > 2:
                self.machine.removeItem(2)
            for host in hosts:
                self.machine.addItem(visible(host, 60), host)
            self.machine.setCurrentIndex(max(self.machine.findData(chosen), 0))
        finally:
            self.machine.blockSignals(False)
        self.machine.setVisible(bool(hosts))
        if self.machine.currentData() != chosen:
            self._changed()

    def show_count(self, shown: int, total: int) -> None:
        self.count.setText(f"{shown} of {total} shown" if shown != total else f"{total} shown")

    def _changed(self, *_args: object) -> None:
        self.filter_changed.emit(self.current())
