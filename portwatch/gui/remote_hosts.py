"""Polls the window's remote hosts from the monitor's worker thread, never blocking anything.

For each host the command `portwatch list --host` runs (core/probe/remote.py: `ssh -o
BatchMode=yes … -- HOST portwatch list --json`, an argument list, no shell here) is started with
subprocess.Popen; its output pipes are read as they fill by QSocketNotifiers on this thread's
event loop, so nothing waits for ssh. The answer is read by the same `list_records`/`list_rows`
as `list --host` and handed to the `Fleet` (core/hosts.py), whose merged PollResult goes out
through `polled`. A host is asked again `interval` seconds after it answered; one that failed
(ssh could not connect or log in, portwatch is not installed there, no answer within
ANSWER_TIMEOUT) is shown unreachable with the reason and tried again after 1, 2, 4 … 60 s.
The ssh processes are this program's children, ended by their PID when a host is removed or
the window quits. Lives in the worker's thread: every call comes from there.
"""

from __future__ import annotations

import logging
import os
import subprocess
import time

from PySide6.QtCore import QObject, QSocketNotifier, QTimer, Signal

from portwatch.core.hosts import Fleet
from portwatch.core.probe.remote import RemoteError, list_records, list_rows, ssh_command

log = logging.getLogger(__name__)

BACKOFF = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0)  # seconds before the next try after failures
HOST_INTERVAL = 10.0  # at least this many seconds between two polls of one host (each is a login)
ANSWER_TIMEOUT = 120.0  # seconds an answer may take, ssh's connection included
CHUNK = 65536


class _Run:
    """One ssh child and what it wrote so far; its pipes are read as they fill."""

    def __init__(self, argv: list[str], job: _HostJob) -> None:
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.job = job
        self.output: dict[int, bytearray] = {}
        self.notifiers: list[QSocketNotifier] = []
        for stream in (self.proc.stdout, self.proc.stderr):
            assert stream is not None
            fd = stream.fileno()
            os.set_blocking(fd, False)
            self.output[fd] = bytearray()
            notifier = QSocketNotifier(fd, QSocketNotifier.Type.Read, job)
            notifier.activated.connect(lambda *_args, fd=fd, n=notifier: self._read(fd, n))
            self.notifiers.append(notifier)

    def _read(self, fd: int, notifier: QSocketNotifier) -> None:
        try:
            chunk = os.read(fd, CHUNK)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if chunk:
            self.output[fd].extend(chunk)
            return
        notifier.setEnabled(False)  # this pipe is at its end
        if not any(n.isEnabled() for n in self.notifiers):
            self.job.finished(self)

    def texts(self) -> tuple[str, str]:
        stdout, stderr = (bytes(self.output[stream.fileno()]).decode(errors="replace")
                          for stream in (self.proc.stdout, self.proc.stderr))
        return stdout, stderr

    def end(self) -> int:
        """Stop watching the pipes, end the child if it still runs (by its PID), reap it and
        close the pipes; its exit status."""
        for notifier in self.notifiers:
            notifier.setEnabled(False)
            notifier.deleteLater()
        self.notifiers = []
        try:
            status = self.proc.wait(10)  # both pipes ended: it is exiting
        except subprocess.TimeoutExpired:
            self.proc.kill()
            status = self.proc.wait(10)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        return status

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.end()


class _HostJob(QObject):
    """One host: its timer and, while it is being asked, its ssh child."""

    def __init__(self, name: str, owner: HostPollers) -> None:
        super().__init__(owner)
        self.name = name
        self.owner = owner
        self.failures = 0
        self.run: _Run | None = None
        self.started = 0.0
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.timeout.connect(self.ask)
        self.deadline = QTimer(self)
        self.deadline.setSingleShot(True)
        self.deadline.timeout.connect(self._too_slow)

    def ask(self) -> None:
        if self.run is not None or self.owner.paused:
            return
        self.started = time.monotonic()
        try:
            self.run = _Run(ssh_command(self.name, ["list", "--json"]), self)
        except FileNotFoundError:
            self._done_with(None, "ssh is not installed here (package openssh-client)")
            return
        except (OSError, ValueError) as exc:  # e.g. PORTWATCH_SSH_COMMAND that does not split
            self._done_with(None, f"the ssh command cannot be run ({exc})")
            return
        self.deadline.start(round(ANSWER_TIMEOUT * 1000))

    def _too_slow(self) -> None:
        run, self.run = self.run, None
        if run is not None:
            run.kill()
            self._done_with(None, f"no answer within {ANSWER_TIMEOUT:g} s")

    def finished(self, run: _Run) -> None:
        if run is not self.run:
            return
        self.run = None
        self.deadline.stop()
        stdout, stderr = run.texts()
        status = run.end()
        try:
            records = list_records(self.name, status, stdout, stderr)
        except RemoteError as exc:
            self._done_with(None, str(exc))
            return
        self._done_with(records, "")

    def _done_with(self, records: list | None, reason: str) -> None:
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
        run, self.run = self.run, None
        if run is not None:
            run.kill()  # our own ssh child, by its PID


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
            elif job.run is None:
                job.ask()

    def stop(self) -> None:
        for job in self._jobs.values():
            job.stop()
