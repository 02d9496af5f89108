"""Investigate and stop one process: parent chain, other sockets, executable hash, terminate.

The details pane needs a few facts the scanner does not collect on every poll. These plain
functions return immutable values and turn every psutil or OS fault into words for the user;
they are slow enough (hashing a large executable) that the GUI calls them off its thread.
`terminate()` never signals a PID unless the process there is still the one the user saw
(same start time), and never goes through a shell.
"""

from __future__ import annotations

import enum
import hashlib
import logging
import os
import socket
import time
from dataclasses import dataclass
from typing import Any

import psutil

from portwatch.core.model import Family, Proto
from portwatch.core.probe.errors import AccessDenied, ProbeError, ProcessGone, boundary
from portwatch.core.text import visible

log = logging.getLogger(__name__)

MAX_SOCKETS = 200  # a busy server can hold thousands; the pane shows the first ones
HASH_CHUNK = 1024 * 1024
CREATE_TIME_TOLERANCE = 0.005  # psutil's start times are exact to a clock tick (10 ms)
NO_PRIVILEGES = ("portwatch is not allowed to stop a process of another user;"
                 " run it with sudo")


@dataclass(frozen=True, slots=True)
class ProcessSummary:
    """One process in a parent chain."""

    pid: int
    name: str
    user: str | None = None
    exe: str | None = None


@dataclass(frozen=True, slots=True)
class SocketSummary:
    """One socket of a process: where it listens or whom it talks to."""

    proto: Proto
    family: Family
    local: str  # address:port ([::1]:631 for IPv6)
    remote: str | None  # None for a listener or an unconnected UDP socket
    status: str  # LISTEN, ESTABLISHED, ... ("" for UDP)


@dataclass(frozen=True, slots=True)
class ProcessDetails:
    """What the details pane shows about a process beyond the scan.

    `running` is False when the PID is gone or now belongs to another process (then the other
    fields are empty and `problems` says which)."""

    pid: int
    running: bool
    parents: tuple[ProcessSummary, ...] = ()  # the parent first, up to the first process
    sockets: tuple[SocketSummary, ...] = ()
    more_sockets: int = 0  # how many sockets beyond MAX_SOCKETS were left out
    problems: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FileDigest:
    """SHA-256 of a file, or why it could not be computed."""

    path: str
    sha256: str | None
    error: str | None = None  # e.g. "not readable: permission denied"
    size: int | None = None


class TerminateOutcome(enum.StrEnum):
    TERMINATED = "terminated"
    NOT_RUNNING = "no longer running"
    IDENTITY_CHANGED = "identity changed (refused)"
    IDENTITY_UNKNOWN = "identity unknown (refused)"
    PERMISSION_DENIED = "permission denied"
    STILL_RUNNING = "still running"


@dataclass(frozen=True, slots=True)
class TerminateResult:
    outcome: TerminateOutcome
    message: str  # one sentence for the user

    @property
    def stopped(self) -> bool:
        return self.outcome is TerminateOutcome.TERMINATED


def _endpoint(family: Family, address: Any) -> str:
    ip, port = address.ip, address.port
    return f"[{ip}]:{port}" if family is Family.IPV6 else f"{ip}:{port}"


def _same_process(create_time: float, expected: float) -> bool:
    return abs(create_time - expected) < CREATE_TIME_TOLERANCE


def _started(create_time: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(create_time))


def process_details(pid: int, expected_create_time: float | None = None) -> ProcessDetails:
    """Parent chain and sockets of `pid`, if it is still the process that started at
    `expected_create_time` (when given)."""
    try:
        with boundary():
            proc = psutil.Process(pid)
            if expected_create_time is not None and not _same_process(
                proc.create_time(), expected_create_time
            ):
                return ProcessDetails(pid, False, problems=(
                    f"PID {pid} now belongs to a different process; the one shown has exited.",))
    except ProcessGone:
        return ProcessDetails(pid, False, problems=(f"PID {pid} is no longer running.",))
    except ProbeError as exc:
        return ProcessDetails(pid, True, problems=(f"cannot inspect PID {pid}: {exc}",))
    problems: list[str] = []
    parents = _parents(proc, problems)
    sockets, more = _sockets(proc, problems)
    return ProcessDetails(pid, True, parents, sockets, more, tuple(problems))


def _parents(proc: Any, problems: list[str]) -> tuple[ProcessSummary, ...]:
    chain: list[ProcessSummary] = []
    try:
        with boundary():
            for parent in proc.parents():
                chain.append(_summary(parent))
    except ProcessGone:
        pass  # a parent exited while we walked: show what was found
    except ProbeError as exc:
        problems.append(f"parent processes could not all be read ({exc})")
    return tuple(chain)


def _summary(proc: Any) -> ProcessSummary:
    def read(getter: Any) -> Any:
        try:
            with boundary():
                return getter() or None
        except ProbeError:
            return None

    return ProcessSummary(proc.pid, read(proc.name) or "?", read(proc.username), read(proc.exe))


_PROTOS = {socket.SOCK_STREAM: Proto.TCP, socket.SOCK_DGRAM: Proto.UDP}
_FAMILIES = {socket.AF_INET: Family.IPV4, socket.AF_INET6: Family.IPV6}


def _sockets(proc: Any, problems: list[str]) -> tuple[tuple[SocketSummary, ...], int]:
    try:
        with boundary():
            conns = proc.net_connections(kind="inet")
    except ProcessGone:
        return (), 0
    except ProbeError:
        problems.append("its sockets cannot be listed without administrator rights"
                        " (run portwatch with sudo to see them)")
        return (), 0
    found: list[SocketSummary] = []
    for conn in conns:
        proto = _PROTOS.get(conn.type)
        family = _FAMILIES.get(conn.family)
        if proto is None or family is None or not conn.laddr:
            continue
        remote = _endpoint(family, conn.raddr) if conn.raddr else None
        status = conn.status if proto is Proto.TCP else ""
        if status == psutil.CONN_NONE:
            status = ""
        found.append(SocketSummary(proto, family, _endpoint(family, conn.laddr), remote, status))
    found.sort(key=lambda s: (s.status != "LISTEN", s.proto.value, s.local, s.remote or ""))
    return tuple(found[:MAX_SOCKETS]), max(len(found) - MAX_SOCKETS, 0)


def sha256_running(pid: int, expected_create_time: float | None, exe: str) -> FileDigest:
    """SHA-256 of the image process `pid` runs, read through /proc/<pid>/exe: the file it was
    started from even when that was deleted or replaced since (hashing `exe` by name would hash
    the replacement). Refused when the PID now belongs to another process; where there is no
    /proc (other systems), the file at `exe`."""
    image = f"/proc/{pid}/exe"
    if not os.path.exists("/proc/self/exe"):
        return sha256_file(exe)
    try:
        handle = open(image, "rb")  # noqa: SIM115 (closed below, after the identity check)
    except PermissionError:
        return FileDigest(exe, None, "not readable: permission denied (the running image of"
                                     " another user's process; run portwatch with sudo)")
    except OSError as exc:
        return FileDigest(exe, None, f"not readable: {exc.strerror or exc}")
    with handle:
        if expected_create_time is not None:
            try:
                with boundary():
                    same = _same_process(psutil.Process(pid).create_time(),
                                         expected_create_time)
            except ProbeError:
                same = False
            if not same:
                return FileDigest(exe, None, f"not computed: PID {pid} is no longer the process"
                                             " shown")
        try:
            return _digest(exe, handle)
        except OSError as exc:
            return FileDigest(exe, None, f"not readable: {exc.strerror or exc}")


def sha256_file(path: str) -> FileDigest:
    """SHA-256 of the file at `path`, read in chunks (executables can be large)."""
    if path.endswith(" (deleted)"):
        return FileDigest(path, None, "not readable: the executable was deleted or replaced"
                                      " after the process started (an update may be waiting"
                                      " for a restart)")
    try:
        with open(path, "rb") as handle:
            return _digest(path, handle)
    except PermissionError:
        return FileDigest(path, None, "not readable: permission denied")
    except FileNotFoundError:
        return FileDigest(path, None, "not readable: the file no longer exists")
    except IsADirectoryError:
        return FileDigest(path, None, "not readable: it is a directory")
    except OSError as exc:
        return FileDigest(path, None, f"not readable: {exc.strerror or exc}")


def _digest(path: str, handle: Any) -> FileDigest:
    digest = hashlib.sha256()
    size = 0
    while chunk := handle.read(HASH_CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return FileDigest(path, digest.hexdigest(), None, size)


def terminate(pid: int, expected_create_time: float | None,
              timeout: float = 3.0) -> TerminateResult:
    """Ask `pid` to stop (SIGTERM; TerminateProcess on Windows) and wait up to `timeout` s.

    Refuses unless the process at `pid` started at `expected_create_time`: a PID can be reused
    by an unrelated process after the one the user saw exited."""
    if pid == os.getpid():
        return TerminateResult(TerminateOutcome.IDENTITY_CHANGED,
                               "portwatch will not stop itself; use File > Quit.")
    try:
        with boundary():
            proc = psutil.Process(pid)
            name = visible(proc.name(), 80)  # for the messages: another program chose it
            if expected_create_time is None:
                return TerminateResult(
                    TerminateOutcome.IDENTITY_UNKNOWN,
                    f"The start time of PID {pid} could not be read, so portwatch cannot be"
                    f" sure it is still the process shown; it was not stopped.")
            create_time = proc.create_time()
            if not _same_process(create_time, expected_create_time):
                return TerminateResult(
                    TerminateOutcome.IDENTITY_CHANGED,
                    f"PID {pid} now belongs to a different process ({name}, started"
                    f" {_started(create_time)}); it was not stopped.")
            proc.terminate()
    except ProcessGone:
        return TerminateResult(TerminateOutcome.NOT_RUNNING,
                               f"PID {pid} is no longer running; nothing was stopped.")
    except AccessDenied:
        return TerminateResult(TerminateOutcome.PERMISSION_DENIED, NO_PRIVILEGES + ".")
    except ProbeError as exc:
        return TerminateResult(TerminateOutcome.PERMISSION_DENIED,
                               f"PID {pid} could not be stopped: {exc.strerror}.")
    log.info("sent SIGTERM to %s (PID %s)", name, pid)
    if _wait_gone(proc, timeout):
        return TerminateResult(TerminateOutcome.TERMINATED,
                               f"{name} (PID {pid}) was stopped.")
    return TerminateResult(
        TerminateOutcome.STILL_RUNNING,
        f"{name} (PID {pid}) was asked to stop but is still running after {timeout:g} s;"
        " it may be shutting down slowly or ignoring the request.")


def _wait_gone(proc: Any, timeout: float) -> bool:
    """True once the process has exited (a zombie waiting for its parent counts as exited)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            proc.wait(timeout=0.05)  # reaps it when it is our own child
            return True
        except psutil.TimeoutExpired:
            pass
        except psutil.NoSuchProcess:
            return True
        try:
            with boundary():
                if not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE:
                    return True
        except ProcessGone:
            return True
        except ProbeError:
            pass
        if time.monotonic() >= deadline:
            return False
