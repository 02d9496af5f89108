"""Polls the window's remote hosts from the monitor's worker thread, never blocking anything.

For each host a `QProcess` runs the command `portwatch list --host` runs (core/remote.py:
`ssh -o BatchMode=yes … HOST portwatch list --json`); its answer is read by the same
`list_records`/`list_rows` and handed to the `Fleet` (core/hosts.py), whose merged PollResult
goes out through `polled`. A host is asked again `interval` seconds after it answered; one that
failed (ssh could not connect or log in, portwatch is not installed there, no answer within
ANSWER_TIMEOUT) is shown unreachable with the reason and tried again after 1, 2, 4 … 60 s.
The ssh processes are this program's children, ended by their PID (QProcess.kill) when a host
is removed or the window quits. Lives in the worker's thread: every call comes from there.
"""

from __future__ import annotations

import logging
import time

from PySide6.QtCore import QObject, QProcess, QTimer, Signal

from portwatch.core.hosts import Fleet
from portwatch.core.probe.remote import RemoteError, list_records, list_rows, ssh_command

log = logging.getLogger(__name__)

BACKOFF = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0)  # seconds before the next try after failures
HOST_INTERVAL = 10.0  # at least this many seconds between two polls of one host (each is a login)
ANSWER_TIMEOUT = 120.0  # seconds an answer may take, ssh's connection included


class _HostJob(QObject):
    """One host: its timer and, while it is being asked, its ssh process."""

    def __init__(self, name: str, owner: HostPollers) -> None:
        super().__init__(owner)
        self.name = name
        self.owner = owner
        self.failures = 0
        self.proc: QProcess | None = None
        self.started = 0.0
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.timeout.connect(self.ask)
        self.deadline = QTimer(self)
        self.deadline.setSingleShot(True)
        self.deadline.timeout.connect(self._too_slow)

    def ask(self) -> None:
        if self.proc is not None or self.owner.paused:
            return
        try:
            argv = ssh_command(self.name, ["list", "--json"])
        except ValueError as exc:  # PORTWATCH_SSH_COMMAND that does not split like a shell's
            self.started = time.monotonic()
            self._done_with(None, f"the ssh command cannot be read ({exc})")
            return
        proc = QProcess(self)
        proc.setStandardInputFile(QProcess.nullDevice())  # as `list --host`: no stdin
        proc.finished.connect(self._finished)
        proc.errorOccurred.connect(self._error)
        self.proc = proc
        self.started = time.monotonic()
        self.deadline.start(round(ANSWER_TIMEOUT * 1000))
        proc.start(argv[0], argv[1:])

    def _error(self, error: QProcess.ProcessError) -> None:
        if error is QProcess.ProcessError.FailedToStart:
            self._done_with(None, "ssh could not be started here (is openssh-client"
                                  " installed?)")

    def _too_slow(self) -> None:
        self._done_with(None, f"no answer within {ANSWER_TIMEOUT:g} s")

    def _finished(self, status: int, exit_status: QProcess.ExitStatus) -> None:
        proc = self.proc
        if proc is None:
            return
        stdout = bytes(proc.readAllStandardOutput().data()).decode(errors="replace")
        stderr = bytes(proc.readAllStandardError().data()).decode(errors="replace")
        if exit_status is QProcess.ExitStatus.CrashExit:
            status = 255
        try:
            records = list_records(self.name, status, stdout, stderr)
        except RemoteError as exc:
            self._done_with(None, str(exc))
            return
        self._done_with(records, "")

    def _done_with(self, records: list | None, reason: str) -> None:
        proc, self.proc = self.proc, None
        self.deadline.stop()
        if proc is not None:
            self.owner.end(proc)
        duration = time.monotonic() - self.started
        if records is not None:
            rows, skipped = list_rows(self.name, records)
            self.failures = 0
            self.owner.deliver(self.owner.fleet.answered(self.name, rows, duration,
                                                         tuple(skipped)))
            wait = self.owner.interval
        else:
            wait = BACKOFF[min(self.failures, len(BACKOFF) - 1)]
            self.failures += 1
            log.info("remote host %s: %s", self.name, reason)
            self.owner.deliver(self.owner.fleet.failed(self.name, reason, wait))
        if not self.owner.paused:
            self.timer.start(round(wait * 1000))

    def stop(self) -> None:
        self.timer.stop()
        self.deadline.stop()
        proc, self.proc = self.proc, None
        if proc is not None:
            self.owner.end(proc)


class HostPollers(QObject):
    """Every remote host's job; `polled(PollResult)` carries each merged result."""

    polled = Signal(object)

    def __init__(self, fleet: Fleet, interval: float = HOST_INTERVAL,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.fleet = fleet
        self.interval = interval
        self.paused = False
        self._jobs: dict[str, _HostJob] = {}

    def deliver(self, result) -> None:
        if result is not None:
            self.polled.emit(result)

    def add(self, name: str) -> None:
        if name in self._jobs:
            return
        job = _HostJob(name, self)
        self._jobs[name] = job
        self.deliver(self.fleet.add(name))
        job.ask()

    def remove(self, name: str) -> None:
        job = self._jobs.pop(name, None)
        if job is not None:
            job.stop()
            job.deleteLater()
        self.deliver(self.fleet.remove(name))

    def set_hosts(self, names: tuple[str, ...]) -> None:
        for name in [name for name in self._jobs if name not in names]:
            self.remove(name)
        for name in names:
            self.add(name)

    def poll_now(self) -> None:
        for job in self._jobs.values():
            job.timer.stop()
            job.ask()

    def set_paused(self, paused: bool) -> None:
        self.paused = paused
        for job in self._jobs.values():
            if paused:
                job.timer.stop()
            elif job.proc is None:
                job.ask()

    def stop(self) -> None:
        for job in self._jobs.values():
            job.stop()

    @staticmethod
    def end(proc: QProcess) -> None:
        """End our own ssh child (by its PID) and wait for it, so no process is left."""
        for signal in (proc.finished, proc.errorOccurred):
            signal.disconnect()
        if proc.state() is not QProcess.ProcessState.NotRunning:
            proc.kill()
            proc.waitForFinished(5000)
        proc.deleteLater()
