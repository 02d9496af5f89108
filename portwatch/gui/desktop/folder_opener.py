"""Open a folder in the user's file manager, and tell the user when nothing opened it.

`QDesktopServices.openUrl` only says whether xdg-open *started*: on a system without a file
manager xdg-open exits with status 3 or 4 a moment later and the user sees nothing. So
`FolderOpener` runs xdg-open itself (a QProcess) and emits `failed(folder, reason)` when it
cannot start or exits with an error; where there is no xdg-open, Qt's own service is asked.
"""

from __future__ import annotations

import logging
import os
import shutil
from urllib.parse import quote

from PySide6.QtCore import QObject, QProcess, QUrl, Signal
from PySide6.QtGui import QDesktopServices

from portwatch.core.text import visible

log = logging.getLogger(__name__)

# xdg-open's exit statuses (xdg-utils' manual page)
_XDG_REASONS = {
    1: "xdg-open did not understand the request",
    2: "the folder does not exist",
    3: "no file manager (or other program that opens folders) is installed",
    4: "the program meant to open folders failed",
}


def encoded_url(url: QUrl) -> str:
    """The local file URL with every byte but letters, digits, "/", "-", "_" and "."
    percent-encoded (QUrl leaves ";", "$", "(", "&" and "~" as they are)."""
    path = os.fsencode(url.toLocalFile())
    return "file://" + quote(path, safe="/").replace("~", "%7E")


class FolderOpener(QObject):
    """`open_url(QUrl)` starts opening a local folder; `failed(folder, reason)` follows when
    it did not open. A file manager that keeps running is left to run (also at quit)."""

    failed = Signal(str, str)

    def __init__(self, parent: QObject | None = None, program: str | None = None) -> None:
        super().__init__(parent)
        self._program = program  # None: xdg-open from PATH, looked up at each use
        self._running: list[QProcess] = []

    def open_url(self, url: QUrl) -> bool:
        folder = url.toLocalFile()
        program = self._program or shutil.which("xdg-open")
        if program is None:
            if QDesktopServices.openUrl(url):
                return True
            self.failed.emit(folder, "no program to open folders was found (xdg-open, from"
                             " xdg-utils, is not installed)")
            return False
        process = QProcess(self)
        process.setProgram(program)
        # The folder goes to xdg-open (itself a shell script) as a percent-encoded file URL, as
        # Qt's own service passes it: no space, quote or shell metacharacter of a hostile path
        # reaches the script (tests/reliability/test_attack_surface.py checks it).
        process.setArguments([encoded_url(url)])
        process.setStandardOutputFile(QProcess.nullDevice())
        process.finished.connect(lambda code, status: self._finished(process, folder, code,
                                                                     status))
        process.errorOccurred.connect(lambda error: self._error(process, folder, error))
        self._running.append(process)
        process.start()
        return True

    def _finished(self, process: QProcess, folder: str, code: int,
                  status: QProcess.ExitStatus) -> None:
        said = bytes(process.readAllStandardError().data()).decode(errors="replace").strip()
        self._forget(process)
        if status is QProcess.ExitStatus.NormalExit and code == 0:
            return
        reason = _XDG_REASONS.get(code, f"xdg-open ended with status {code}")
        last = said.splitlines()[-1] if said else ""
        if last:
            reason += f" (xdg-open said: {visible(last, 200)})"
        log.warning("could not open %s: %s", folder, reason)
        self.failed.emit(folder, reason)

    def _error(self, process: QProcess, folder: str, error: QProcess.ProcessError) -> None:
        if error is QProcess.ProcessError.FailedToStart:
            self._forget(process)
            self.failed.emit(folder, f"{process.program()} could not be started"
                             f" ({process.errorString()})")

    def _forget(self, process: QProcess) -> None:
        # Not deleted here, inside its own signal: it goes with the opener (a few per session).
        if process in self._running:
            self._running.remove(process)

    def shutdown(self) -> None:
        """At quit: xdg-open processes still running (a file manager it waits for) are
        stopped; the file manager itself, its child, keeps running."""
        for process in list(self._running):
            self._forget(process)
            process.finished.disconnect()
            process.errorOccurred.disconnect()
            process.kill()
            process.waitForFinished(2000)
