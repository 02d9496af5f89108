"""The row of filter controls above the table: a search field and five toggles."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLineEdit, QWidget

from portwatch.gui.models.filter_proxy import ListenerFilter
from portwatch.gui.style.plain import plain_label


class FilterBar(QWidget):
    """Emits `filter_changed(ListenerFilter)` whenever a control changes."""

    filter_changed = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.search = QLineEdit(self)
        self.search.setObjectName("filterText")
        self.search.setPlaceholderText("Filter by process, port, service, address or user")
        self.search.setClearButtonEnabled(True)
        self.search.setMinimumWidth(200)  # the window (with the Alerts dock) fits 1280 px
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
        self.count = plain_label("", self)
        self.count.setObjectName("filterCount")
        self.count.setAccessibleName("Listeners shown")
        self.count.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.search, 2)
        for box in (self.tcp, self.udp, self.network_only, self.unknown_only, self.all_netns):
            layout.addWidget(box)
        layout.addStretch(1)
        layout.addWidget(self.count)

        self.search.textChanged.connect(self._changed)
        # Ctrl+F belongs to the window's View > Filter… action, which calls focus_search(): a
        # second shortcut here made Qt call the key ambiguous and do nothing.

    def _toggle(self, text: str, checked: bool, tip: str) -> QCheckBox:
        box = QCheckBox(text, self)
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
        )

    def set_filter(self, wanted: ListenerFilter) -> None:
        """Show `wanted` in the controls (emits filter_changed once)."""
        controls = (self.search, self.tcp, self.udp, self.network_only, self.unknown_only,
                    self.all_netns)
        for control in controls:
            control.blockSignals(True)
        try:
            self.search.setText(wanted.text)
            self.tcp.setChecked(wanted.tcp)
            self.udp.setChecked(wanted.udp)
            self.network_only.setChecked(wanted.network_only)
            self.unknown_only.setChecked(wanted.unknown_only)
            self.all_netns.setChecked(wanted.all_netns)
        finally:
            for control in controls:
                control.blockSignals(False)
        self._changed()

    def show_count(self, shown: int, total: int) -> None:
        self.count.setText(f"{shown} of {total} shown" if shown != total else f"{total} shown")

    def _changed(self, *_args: object) -> None:
        self.filter_changed.emit(self.current())
