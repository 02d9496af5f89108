"""The status bar's summary: how many listeners, how many reachable from the network, how many
owners hidden (and what to do about it), when the last scan ran, and whether it failed; with
remote hosts, each host's state (connecting, its listeners, unreachable and why: the tooltip)."""

from __future__ import annotations

import time

from PySide6.QtCore import QEvent
from PySide6.QtWidgets import QWidget

from portwatch.core.hosts import OK, UNREACHABLE, HostStatus
from portwatch.core.model import Exposure, Risk
from portwatch.core.monitor import PollResult
from portwatch.core.probe import HIDDEN_NEEDS_PRIVILEGES, HIDDEN_NO_PROCESS
from portwatch.core.text import visible
from portwatch.gui.style import risk_style
from portwatch.gui.style.plain import plain_label, plain_tooltip
from portwatch.gui.views.elided_label import ElidedLabel
from portwatch.gui.views.give_way_row import GiveWayRow


def hidden_summary(count: int, reason: str | None) -> str:
    """A short sentence for the status bar about sockets whose owner is not shown, saying what
    to do (the scanner's full reason goes in the tooltip)."""
    noun = "owner" if count == 1 else "owners"
    if reason == HIDDEN_NEEDS_PRIVILEGES:
        them = "it" if count == 1 else "them"
        return f"{count} {noun} hidden: run portwatch with sudo to see {them}"
    if reason == HIDDEN_NO_PROCESS:
        sockets = "socket has" if count == 1 else "sockets have"
        return f"{count} {sockets} no owning process"  # hidden_detail() says whose it may be
    return f"{count} {noun} hidden: {visible(reason, 100) or 'the system did not say why'}"


def hidden_detail(count: int, reason: str | None) -> str:
    """The status bar's hidden-owner tooltip and accessible description: the summary in full
    and the scanner's reason."""
    summary = hidden_summary(count, reason)
    if reason == HIDDEN_NO_PROCESS:
        summary += " (kernel or another container)"
    why = visible(reason) if reason else "the system did not say why"
    return f"{summary}.\n{why[:1].upper()}{why[1:]}."


def hosts_summary(statuses: tuple[HostStatus, ...]) -> str:
    """"hosts: web1 12 · db2 unreachable · web3 connecting… (alerts off)" (the tooltip says
    why)."""
    parts = []
    for status in statuses:
        off = " (alerts off)" if not status.alerts else ""
        if status.state == OK:
            parts.append(f"{visible(status.host, 40)} {status.listeners}{off}")
        elif status.state == UNREACHABLE:
            parts.append(f"{visible(status.host, 40)} unreachable{off}")
        else:
            parts.append(f"{visible(status.host, 40)} connecting…{off}")
    return "hosts: " + " · ".join(parts) if parts else ""


class StatusSummary(QWidget):
    """Labels for QStatusBar.addPermanentWidget; `show_poll()` after each poll."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # Each part ends in "…" when the line is too narrow for all (their tooltips and
        # accessible descriptions have the whole text): cut at the window's edge, a part
        # hid its end (1280 px with two remote hosts cut the hidden-owner message). They give
        # way in turn (GiveWayRow): the hosts first (their tooltip has a line per host), then
        # the scan problem, then the hidden owners; the counts, short and always needed, only
        # when all three are at their narrowest (then to the first two counts).
        self.counts = ElidedLabel("Scanning…", self, min_chars=46)
        self.counts.setObjectName("statusCounts")
        self.counts.setAccessibleName("Listener counts")
        self.hidden = ElidedLabel("", self, min_chars=40)  # "N sockets have no owning process"
        self.hidden.setObjectName("statusHidden")
        self.hidden.setAccessibleName("Hidden owners")
        self.problem = ElidedLabel("", self, min_chars=20)  # "Scan incomplete: the…"
        self.problem.setObjectName("statusProblem")
        self.problem.setAccessibleName("Scan problem")
        self.unrecorded = plain_label("", self)
        self.unrecorded.setObjectName("statusUnrecorded")
        self.hosts = ElidedLabel("", self)
        self.hosts.setObjectName("statusHosts")
        self.hosts.setAccessibleName("Remote hosts")
        self.hosts_statuses: tuple[HostStatus, ...] = ()
        self._color_problem()
        self.last_scan = plain_label("", self)
        self.last_scan.setObjectName("statusLastScan")
        self.paused = plain_label("monitoring paused", self)
        self.paused.setObjectName("statusPaused")
        self.paused.setStyleSheet("font-weight: bold;")
        self._paused = False
        layout = GiveWayRow(self)
        layout.setContentsMargins(4, 0, 4, 0)
        layout.setSpacing(16)
        layout.add(self.counts)
        layout.add(self.hidden, give_way=3, stretch=1)
        layout.add(self.problem, give_way=2)
        layout.add(self.unrecorded)
        layout.add(self.hosts, give_way=1)
        layout.add(self.paused)
        layout.add(self.last_scan)
        self.hidden.hide()
        self.problem.hide()
        self.unrecorded.hide()
        self.hosts.hide()
        self.paused.hide()

    def show_poll(self, result: PollResult) -> None:
        rows = result.rows
        host = result.host_rows
        reachable = sum(1 for r in host if r.listener.exposure is not Exposure.LOOPBACK)
        here = rows if not result.hosts else [r for r in rows if r.listener.host is None]
        others = len(here) - len(host)
        counts = (f"{len(host)} listening · {reachable} reachable from the network"
                  + (f" · {others} in other network namespaces" if others else ""))
        self.counts.setText(counts)
        self.counts.setToolTip(plain_tooltip(counts))
        self.counts.setAccessibleDescription(counts)
        self.show_hosts(result.hosts)
        if result.host is not None:
            return  # another machine's answer: this machine's scan facts stay as they were
        hidden = [r.listener for r in here if r.listener.owner_hidden]
        if hidden:
            reason = hidden[0].hidden_reason
            detail = hidden_detail(len(hidden), reason)
            self.hidden.setText(hidden_summary(len(hidden), reason))
            self.hidden.setToolTip(plain_tooltip(detail))
            self.hidden.setAccessibleDescription(detail)
            self.hidden.show()
        else:
            self.hidden.hide()
        stamp = time.strftime("%H:%M:%S", time.localtime(result.snapshot.taken_at))
        self.last_scan.setText(f"last scan {stamp} ({result.duration * 1000:.0f} ms)")
        self.show_unrecorded(result.unrecorded)
        if result.problems:
            self.show_problem("Scan incomplete: " + " ".join(result.problems))
        else:
            self.show_problem("")

    def show_hosts(self, statuses: tuple[HostStatus, ...]) -> None:
        """Each remote host's state; the tooltip has every host's line (why one is
        unreachable: ssh's message, portwatch not installed there)."""
        if statuses == self.hosts_statuses:
            return
        self.hosts_statuses = statuses
        summary = hosts_summary(statuses)
        lines = "\n".join([summary, *(visible(status.text, 600) for status in statuses)])
        self.hosts.setText(summary)
        self.hosts.setToolTip(plain_tooltip(lines))
        self.hosts.setAccessibleDescription(lines)
        self.hosts.setVisible(bool(statuses))

    def show_unrecorded(self, count: int) -> None:
        """How many events the history file could not take (kept in memory until it can)."""
        events = "event" if count == 1 else "events"
        self.unrecorded.setText(f"{count} {events} not recorded in the history")
        self.unrecorded.setToolTip("The history file cannot be written now (the status bar's"
                                   " message says why). The events are kept in memory and"
                                   " written when it can take them again.")
        self.unrecorded.setVisible(count > 0)

    def _color_problem(self) -> None:
        for label in (self.problem, self.unrecorded):
            label.setStyleSheet(f"color: {risk_style.risk_text_color(Risk.HIGH)};")

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.ApplicationPaletteChange:
            self._color_problem()  # readable on a light or a dark palette

    def show_problem(self, text: str) -> None:
        """A failure or a partial scan, in red; empty hides it."""
        text = visible(text)
        self.problem.setText(text if len(text) <= 120 else text[:119] + "…")
        self.problem.setToolTip(plain_tooltip(text))
        self.problem.setAccessibleDescription(text)
        self.problem.setVisible(bool(text))

    def set_paused(self, paused: bool) -> None:
        """Say that monitoring is paused (the last scan's time stays until the next one)."""
        self._paused = paused
        self.paused.setVisible(paused)

    def show_failure(self, message: str) -> None:
        self.show_problem(message)
        self.last_scan.setText(f"scan failed at {time.strftime('%H:%M:%S')}")
