"""The details pane: everything about the selected listener, and what the user can do about it.

Shows the catalog entry (registry, known uses, security notes with clickable references), the
risk and its reason, and the owning process: executable, its SHA-256 (computed off the GUI
thread: "computing…" until ready), command line, parent chain and other sockets. Actions: copy
as text, open the executable's folder, look the port up, ignore it (an ignore rule, once the
window can store them), terminate the process (after a confirmation naming process and PID;
refused by the core when the PID changed hands). A listener of another machine (the window's
remote hosts) names its host; its process is not this machine's, so nothing is inspected,
hashed, opened or terminated for it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import cast

from PySide6.QtCore import QEvent, Qt, QUrl, Signal, Slot
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QHBoxLayout,
    QMessageBox,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from portwatch.core import probe
from portwatch.core.model import AnnotatedListener, ListenerKey, ProcessInfo, Proto
from portwatch.core.probe import (
    FileDigest,
    ProcessDetails,
    TerminateOutcome,
    TerminateResult,
)
from portwatch.core.text import visible
from portwatch.gui.desktop.folder_opener import FolderOpener
from portwatch.gui.jobs import JobRunner
from portwatch.gui.views import report

log = logging.getLogger(__name__)

PLACEHOLDER = ("Select a listener to see what it is, which program opened it and whether to"
               " worry about it.")

# Which process a result belongs to: the row key plus the process start time (PIDs are reused).
Identity = tuple[ListenerKey, float | None]


def confirm_terminate(parent: QWidget, name: str, pid: int, where: str) -> bool:
    """Ask before stopping a process; the text is plain (process names are untrusted)."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle("Terminate process")
    box.setTextFormat(Qt.TextFormat.PlainText)
    box.setText(f"Terminate {name} (PID {pid})?")
    box.setInformativeText(
        f"It listens on {where}. The program is asked to stop (SIGTERM); unsaved work in it"
        " may be lost, and a service manager may start it again.")
    stop = box.addButton("Terminate", QMessageBox.ButtonRole.DestructiveRole)
    cancel = box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(cancel)
    box.exec()
    return box.clickedButton() is stop


class DetailsPane(QWidget):
    """Shows one listener. Signals: `lookup_requested(port, Proto)`,
    `ignore_requested(AnnotatedListener)`, `terminate_finished(TerminateResult)`,
    `message(str)` for the status bar."""

    lookup_requested = Signal(int, object)
    ignore_requested = Signal(object)
    terminate_finished = Signal(object)
    message = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("detailsPane")
        # Replaceable by tests and other front ends: how to confirm and how to open a folder.
        self.confirm: Callable[[QWidget, str, int, str], bool] = confirm_terminate
        self.folder_opener = FolderOpener(self)
        self.folder_opener.failed.connect(self._folder_failed)
        self.open_url: Callable[[QUrl], bool] = self.folder_opener.open_url

        self.view = QTextBrowser(self)
        self.view.setObjectName("detailsText")
        self.view.setAccessibleName("Details of the selected listener")
        self.view.setAccessibleDescription("Risk and its reason, who can reach it, the registry"
                                           " entry, known uses, security notes and the process")
        self.view.setOpenExternalLinks(True)
        self.view.setPlaceholderText(PLACEHOLDER)

        self.copy_button = QPushButton("Copy as text", self)
        self.folder_button = QPushButton("Open containing folder", self)
        self.lookup_button = QPushButton("Look up port…", self)
        self.ignore_button = QPushButton("Ignore…", self)
        self.terminate_button = QPushButton("Terminate process…", self)
        self.copy_button.setToolTip("Copy everything shown here to the clipboard")
        self.folder_button.setToolTip("Show the program's executable in the file manager")
        self.lookup_button.setToolTip("Everything the catalog knows about this port")
        self.ignore_button.setToolTip("Never alert for this program, this port or a range of"
                                      " ports (you choose)")
        self.terminate_button.setToolTip("Ask the process that owns this socket to stop")
        for button in (self.copy_button, self.folder_button, self.lookup_button,
                       self.ignore_button, self.terminate_button):
            button.setAccessibleDescription(button.toolTip())
        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        for button in (self.copy_button, self.folder_button, self.lookup_button,
                       self.ignore_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.terminate_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view, 1)
        layout.addLayout(buttons)

        self.copy_button.clicked.connect(self.copy_as_text)
        self.folder_button.clicked.connect(self.open_folder)
        self.lookup_button.clicked.connect(self._lookup)
        self.ignore_button.clicked.connect(self._ignore)
        self.terminate_button.clicked.connect(self.request_terminate)

        self.jobs = JobRunner(self)
        self.jobs.finished.connect(self._job_finished)
        self._item: AnnotatedListener | None = None
        self._closing = False
        self._identity: Identity | None = None
        self._details: ProcessDetails | None = None
        self._digest: FileDigest | None = None
        self._terminating = False
        # the processes of local peers, by (address, port): found, and being looked up
        self._peers: dict[tuple[str, int], probe.PeerOwner] = {}
        self._asking: set[tuple[str, int]] = set()
        self._can_ignore = False  # until something can store ignore rules
        self._update_buttons()

    # --- what is shown ----------------------------------------------------------------------
    @property
    def item(self) -> AnnotatedListener | None:
        return self._item

    def show_listener(self, item: AnnotatedListener | None, closing: bool = False) -> None:
        """Show `item` (None: the placeholder). Process facts are gathered again only when the
        process differs from the one shown."""
        if item is self._item and closing == self._closing:
            return
        self._item = item
        self._closing = closing
        identity = _identity(item)
        if identity != self._identity:
            self._identity = identity
            self._details = None
            self._digest = None
            self._peers, self._asking = {}, set()
            self._start_jobs()
        self._look_up_peers()
        self._render()

    def _look_up_peers(self) -> None:
        """Ask who is at the other end of the local connections not looked up yet (a walk of
        every process's fds: in a pool thread)."""
        missing = _local_peers(self._item) - self._peers.keys() - self._asking
        if missing:
            self._asking |= missing
            self.jobs.submit(("peers", self._identity, frozenset(missing)),
                             probe.peer_processes, missing)

    def _peers_found(self, identity: Identity | None, asked: frozenset, result: object) -> None:
        if identity != self._identity:
            return  # the selection moved on
        self._asking -= asked
        if not isinstance(result, dict):  # the job raised: said for each peer
            result = dict.fromkeys(asked, probe.PeerOwner(None, None,
                                                          f"could not be looked up: {result}"))
        self._peers.update(result)
        self._render()

    def _start_jobs(self) -> None:
        proc = _local_process(self._item)
        if proc is None:
            return
        self.jobs.submit(("details", self._identity), probe.process_details,
                         proc.pid, proc.create_time)
        if proc.exe:  # the running image (/proc/<pid>/exe), not a file that replaced it
            self.jobs.submit(("hash", self._identity), probe.sha256_running, proc.pid,
                             proc.create_time, proc.exe)

    @Slot(object, object)
    def _job_finished(self, token: object, result: object) -> None:
        if isinstance(token, tuple) and token[0] == "peers":
            self._peers_found(token[1], token[2], result)
            return
        kind, identity = cast(tuple[str, "Identity | None"], token)
        if kind == "terminate":
            self._terminate_done(result)
            return
        if identity is None or identity != self._identity:
            return  # the selection moved on
        if kind == "details":
            self._details = result if isinstance(result, ProcessDetails) else ProcessDetails(
                identity[0].pid or 0, True, problems=(f"could not be inspected: {result}",))
        elif kind == "hash":
            proc = self._item.listener.process if self._item is not None else None
            self._digest = result if isinstance(result, FileDigest) else FileDigest(
                (proc.exe if proc else None) or "", None, f"not computed: {result}")
        self._render()

    def current_report(self) -> report.Report | None:
        if self._item is None:
            return None
        return report.listener_report(self._item, closing=self._closing,
                                      details=self._details, digest=self._digest,
                                      peers=self._peers)

    def _render(self) -> None:
        built = self.current_report()
        if built is None:
            self.view.clear()
        else:
            bar = self.view.verticalScrollBar()
            position = bar.value()
            self.view.setHtml(report.to_html(built))
            bar.setValue(position)
        self._update_buttons()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange) \
                and self._item is not None:
            self._render()  # its colours follow the palette (light or dark)

    def _update_buttons(self) -> None:
        item = self._item
        proc = _local_process(item)
        self.copy_button.setEnabled(item is not None)
        self.lookup_button.setEnabled(item is not None)
        self.ignore_button.setEnabled(item is not None and self._can_ignore)
        self.folder_button.setEnabled(bool(proc and proc.exe))
        self.terminate_button.setEnabled(proc is not None and not self._terminating)

    # --- actions ------------------------------------------------------------------------------
    def copy_as_text(self) -> None:
        built = self.current_report()
        if built is None:
            return
        QGuiApplication.clipboard().setText(report.to_text(built))
        self.message.emit("Copied the details to the clipboard.")

    def open_folder(self) -> None:
        proc = _local_process(self._item)
        if proc is None or not proc.exe:
            return
        folder = os.path.dirname(proc.exe.removesuffix(" (deleted)"))
        self.open_url(QUrl.fromLocalFile(folder))  # a failure comes back as _folder_failed

    def _folder_failed(self, folder: str, reason: str) -> None:
        """Nothing opened the folder: say so in a message box (and the status bar)."""
        self.message.emit(f"Could not open {visible(folder)} in a file manager.")
        box = QMessageBox(QMessageBox.Icon.Warning, "Could not open the folder", "",
                          QMessageBox.StandardButton.Ok, self)
        box.setObjectName("folderFailedBox")
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setText(f"The folder {visible(folder)} could not be shown: {reason}.")
        box.setInformativeText(f"Open it yourself; its path is: {visible(folder)}")
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    def _lookup(self) -> None:
        if self._item is not None:
            sock = self._item.listener
            self.lookup_requested.emit(sock.port, Proto(sock.proto))

    def set_ignore_available(self, available: bool) -> None:
        self._can_ignore = available
        self._update_buttons()

    def _ignore(self) -> None:
        if self._item is not None and self._can_ignore:
            self.ignore_requested.emit(self._item)

    def request_terminate(self) -> None:
        """Confirm, then terminate the shown process off the GUI thread."""
        item = self._item
        proc = _local_process(item)
        if item is None or proc is None or self._terminating:
            return
        sock = item.listener
        where = f"{sock.proto.value.upper()} {sock.endpoint}"
        name = visible(proc.name)  # as the table shows it: no bidi override, no escapes
        if not self.confirm(self, name, proc.pid, where):
            return
        self._terminating = True
        self._update_buttons()
        self.message.emit(f"Asking {name} (PID {proc.pid}) to stop…")
        self.jobs.submit(("terminate", self._identity), probe.terminate,
                         proc.pid, proc.create_time)

    def _terminate_done(self, result: object) -> None:
        self._terminating = False
        self._update_buttons()
        if not isinstance(result, TerminateResult):  # the job raised
            result = TerminateResult(TerminateOutcome.PERMISSION_DENIED,
                                     f"The process could not be stopped: {result}")
        self.message.emit(result.message)
        self.terminate_finished.emit(result)

    def shutdown(self) -> None:
        """Wait for background jobs (call before the application quits)."""
        self.jobs.shutdown()
        self.folder_opener.shutdown()


def _identity(item: AnnotatedListener | None) -> Identity | None:
    if item is None:
        return None
    proc = item.listener.process
    return item.key, proc.create_time if proc else None


def _local_peers(item: AnnotatedListener | None) -> set[tuple[str, int]]:
    """The (address, port) of the peers on this machine connected to `item`, when it is a
    listener of this machine's own namespace (others' peers cannot be looked up here)."""
    if item is None or item.connections is None or item.listener.host is not None \
            or item.listener.netns is not None:
        return set()
    return {(peer.address, peer.port) for peer in item.connections.peers
            if peer.scope == "local" and peer.pid is None}


def _local_process(item: AnnotatedListener | None) -> ProcessInfo | None:
    """The owning process when it runs on this machine (another machine's PID means nothing
    here: it must never be inspected or terminated)."""
    if item is None or item.listener.host is not None:
        return None
    return item.listener.process
