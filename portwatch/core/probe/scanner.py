"""The probe's scanner: list every listening socket with its owning process.

`ListenerScanner.scan()` returns a Snapshot of TCP sockets in LISTEN and UDP sockets with no
remote address, IPv4 and IPv6. psutil and OS faults pass the probe's one boundary
(`errors.boundary`) and never escape as exceptions: a process that exits
mid-scan is dropped (its socket went with it), a process whose details are denied keeps what
could be read, and a socket whose owner the OS hides is kept with `owner_hidden` and a reason.

Two paths give the same rows. On Linux the fast path lists sockets over netlink sock_diag
(`sockdiag`) and finds owners with an inode -> process map kept between scans (`fastpath`,
`owners`): a steady-state scan costs a few milliseconds where walking every process's fds costs
hundreds. Everywhere else, and on Linux when netlink is not usable, the portable path asks
`psutil.net_connections()`. Process details come from psutil (on the fast path from /proc
directly, `procread`, with psutil's rules, so a one-shot `list` never imports psutil), cached
by pid, start time and what exec() changes (probe.provenance.fingerprint: the running
executable and the name), so a process that became another program is read again at the next
scan; its provenance (package, trust flags) is examined once per such identity. The fast
path also knows every process that holds a socket (`Listener.holders`, the owner first) and the
socket's own user (its uid).
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from portwatch.core.model import (
    Family,
    Holder,
    Listener,
    ProcessInfo,
    Proto,
    Snapshot,
)
from portwatch.core.probe.errors import AccessDenied, ProbeError, ProcessGone, boundary
from portwatch.core.probe.exposure import classify
from portwatch.core.probe.fastpath import FastPath
from portwatch.core.probe.hidden import hidden_reason
from portwatch.core.probe.owner_cache import default_owner_cache  # noqa: F401 (its old home)
from portwatch.core.probe.procread import ProcReader
from portwatch.core.probe.provenance import Fingerprint, ProvenanceReader, fingerprint

if TYPE_CHECKING:
    from portwatch.core.probe.owners import WalkStats

log = logging.getLogger(__name__)

_FAMILIES = {socket.AF_INET: Family.IPV4, socket.AF_INET6: Family.IPV6}


def _listening(conn: Any) -> tuple[Proto, Family, str, int] | None:
    """(proto, family, address, port) when conn is a listener; None otherwise."""
    family = _FAMILIES.get(conn.family)
    if family is None or not conn.laddr:
        return None
    if conn.type == socket.SOCK_STREAM:
        if conn.status != "LISTEN":  # psutil.CONN_LISTEN
            return None
        proto = Proto.TCP
    elif conn.type == socket.SOCK_DGRAM:
        if conn.raddr:  # a connected UDP socket talks to one peer: a client, not a listener
            return None
        proto = Proto.UDP
    else:
        return None
    return proto, family, conn.laddr.ip, conn.laddr.port


def _read(getter: Callable[[], Any], default: Any, ps: Any) -> Any:
    """One process attribute; AccessDenied or any other fault reading it (an OSError from
    /proc, psutil's generic Error) gives the default. ProcessGone (NoSuchProcess, and
    ZombieProcess) propagates: the process is gone, and its sockets with it."""
    try:
        with boundary(ps):
            return getter()
    except ProcessGone:
        raise
    except ProbeError as exc:
        if not isinstance(exc, AccessDenied):
            log.debug("could not read %s: %s", getattr(getter, "__name__", "?"), exc)
        return default


class ListenerScanner:
    """Scans listeners; remembers process details by (pid, start time) between scans.

    `ListenerScanner()` picks the netlink fast path on Linux; passing a psutil module (tests do,
    to inject faults) or `fast=False` selects the portable psutil path. `backend` says which path
    the last scan used and `fallback_reason` why the fast path is not in use, if it is not.
    With `owner_cache` (a file path), the fast path starts from the owner map a previous
    process saved there and saves its own on `close()`: a one-shot scan then costs
    milliseconds instead of a walk of every process's fds; `warm` (owner map, packages) is such
    a map restored already (`list` asked it before deciding to scan), and `only` limits the
    fast path's rows to the sockets it accepts (those `list` has no proven kept row for)."""

    def __init__(self, psutil_module: Any = None, *, fast: bool | None = None,
                 owner_cache: str | os.PathLike | None = None, all_netns: bool = False,
                 warm: tuple[Any, Any] | None = None,
                 only: Callable[[Any], bool] | None = None) -> None:
        self._injected = psutil_module  # None: the real psutil, imported when first needed
        self._processes: dict[int, tuple[Fingerprint, ProcessInfo]] = {}
        # An injected psutil (tests) describes processes that are not this system's: judge
        # them by what it says, never by the /proc entry that happens to have the same pid.
        own = psutil_module is None
        self._provenance = ProvenanceReader("/proc" if own else None)
        self._fingerprint = fingerprint if own else _no_fingerprint
        if fast is None:
            fast = psutil_module is None and sys.platform.startswith("linux")
        # The fast path on our own processes reads owners' details straight from /proc
        # (procread), as psutil would give them, and so never imports psutil.
        self._native = ProcReader() if fast and own else None
        self._origins = None
        namespaces = None
        if sys.platform.startswith("linux"):
            from portwatch.core.probe.origins import Origins

            self._origins = Origins()
            if all_netns and fast:
                from portwatch.core.probe.netns import NamespaceScanner

                namespaces = NamespaceScanner(describe=self._origins.describe)
        self._fast: FastPath | None = (
            FastPath(self._read_process, self._provenance, owner_cache, namespaces, warm, only)
            if fast else None
        )
        self.backend = "netlink" if fast else "psutil"
        self.fallback_reason: str | None = None
        # Parent names read during one scan: many owners share a parent (a supervisor, init).
        self._names: dict[int, str | None] = {}

    @property
    def _psutil(self) -> Any:
        if self._injected is not None:
            return self._injected
        import psutil  # the portable path, and the fast path's fallback

        return psutil

    def scan(self) -> Snapshot:
        self._names.clear()
        if self._fast is not None:
            try:
                listeners = self._fast.scan()
            except OSError as exc:
                self._fast_failed(exc)
            else:
                self.backend = "netlink"
                namespaces = self._fast.namespaces
                problem = namespaces.problem() if namespaces is not None else None
                return Snapshot(time.time(), self._annotate(listeners),
                                (problem,) if problem else ())
        self.backend = "psutil"
        snapshot = self._scan_psutil()
        return Snapshot(snapshot.taken_at, self._annotate(snapshot.listeners), snapshot.problems)

    def _annotate(self, listeners: tuple[Listener, ...]) -> tuple[Listener, ...]:
        """Each listener's systemd unit and container (probe.origins), cached per process."""
        return self._origins.annotate(listeners) if self._origins is not None else listeners

    def _fast_failed(self, exc: OSError) -> None:
        """The first failure ends the fast path; a later one costs one portable scan."""
        assert self._fast is not None
        if not self._fast.worked:
            self.fallback_reason = f"netlink sock_diag is not usable here ({exc})"
            log.info("scanning with psutil: %s", self.fallback_reason)
            self._fast.close()
            self._fast = None
        else:
            log.info("netlink scan failed (%s); this scan uses psutil", exc)

    @property
    def walk_stats(self) -> WalkStats | None:
        """What the fast path read from /proc in the last scan (None on the psutil path)."""
        return self._fast.owners.stats if self._fast is not None else None

    def close(self) -> None:
        if self._fast is not None:
            self._fast.close()

    def _scan_psutil(self) -> Snapshot:
        problems: list[str] = []
        try:
            conns = self._psutil.net_connections(kind="inet")
        except self._psutil.AccessDenied:
            # macOS without root: ask each visible process for its own sockets instead.
            conns, denied = self._per_process_connections()
            if denied:
                problems.append(
                    f"{denied} processes could not be inspected without administrator rights;"
                    " their listening sockets are not shown (run portwatch with sudo to see them)"
                )
        except OSError as exc:
            return Snapshot(time.time(), (), (f"could not list sockets: {exc}",))
        listeners = self._build(conns)
        alive = {item.pid for item in listeners if item.pid is not None}
        self._processes = {pid: known for pid, known in self._processes.items() if pid in alive}
        return Snapshot(time.time(), tuple(listeners), tuple(problems))

    def _per_process_connections(self) -> tuple[list[Any], int]:
        found: list[Any] = []
        denied = 0
        for proc in self._psutil.process_iter():
            try:
                for conn in proc.net_connections(kind="inet"):
                    found.append(conn._replace(pid=proc.pid) if hasattr(conn, "_replace") else conn)
            except self._psutil.AccessDenied:
                denied += 1
            except self._psutil.NoSuchProcess:
                continue
        return found, denied

    def _build(self, conns: Iterable[Any]) -> list[Listener]:
        reason = hidden_reason()
        seen: set[tuple] = set()
        listeners: list[Listener] = []
        infos: dict[int, ProcessInfo | None] = {}  # a process with many sockets is read once
        for conn in conns:
            fields = _listening(conn)
            if fields is None:
                continue
            proto, family, address, port = fields
            pid = getattr(conn, "pid", None)
            if (fields, pid) in seen:
                continue
            seen.add((fields, pid))
            if pid is None:
                listeners.append(
                    Listener(proto, family, address, port, classify(address),
                             owner_hidden=True, hidden_reason=reason)
                )
                continue
            info = infos[pid] if pid in infos else infos.setdefault(pid, self._process_info(pid))
            if info is None:
                log.debug("process %s exited during the scan; dropping its sockets", pid)
                continue
            # psutil names one holder of a shared socket, and not the socket's uid.
            listeners.append(Listener(proto, family, address, port, classify(address), info,
                                      holders=(Holder(pid, info.name),)))
        return listeners

    def _process_info(self, pid: int) -> ProcessInfo | None:
        """Details of pid, or None when it no longer exists."""
        ps = self._psutil
        try:
            with boundary(ps):
                proc = ps.Process(pid)
                create_time = _read(proc.create_time, None, ps)
            cached = self._processes.get(pid)
            now = self._fingerprint(pid)
            # Without a start time a reused pid cannot be told apart: read it again; nor can a
            # process that exec'd another program without its executable and name.
            if cached is not None and create_time is not None \
                    and cached[1].create_time == create_time and cached[0] == now:
                return cached[1]
        except ProcessGone:  # includes ZombieProcess: a zombie holds no sockets
            return None
        except ProbeError as exc:  # anything else: keep the socket, owner unknown
            log.debug("could not read process %s: %s", pid, exc)
            return ProcessInfo(pid=pid, name="?")
        info = self._read_process(pid, proc, create_time)
        if info is not None:
            self._processes[pid] = (now, info)
        return info

    def _read_process(self, pid: int, proc: Any = None, create_time: Any = False,
                      ) -> ProcessInfo | None:
        """Read pid's details with psutil (or from /proc, see procread); None when it no longer
        exists."""
        if proc is None and self._native is not None:
            try:
                return self._native.details(pid, self._provenance.read, self._process_name)
            except ProcessGone:
                return None
            except ProbeError as exc:
                log.debug("could not read process %s: %s", pid, exc)
                return ProcessInfo(pid=pid, name="?")
        ps = self._psutil
        try:
            with boundary(ps):
                if proc is None:
                    proc = ps.Process(pid)
                if create_time is False:
                    create_time = _read(proc.create_time, None, ps)
                with proc.oneshot():
                    name = _read(proc.name, "?", ps) or "?"
                    exe = _read(proc.exe, None, ps) or None
                    cmdline = tuple(_read(proc.cmdline, (), ps) or ())
                    ppid = _read(proc.ppid, None, ps)
                    return ProcessInfo(
                        pid=pid,
                        name=name,
                        user=_read(proc.username, None, ps),
                        exe=exe,
                        cmdline=cmdline,
                        create_time=create_time,
                        ppid=ppid,
                        provenance=self._provenance.read(pid, name, exe, cmdline),
                        parent=self._process_name(ppid),
                    )
        except ProcessGone:
            return None
        except ProbeError as exc:
            log.debug("could not read process %s: %s", pid, exc)
            return ProcessInfo(pid=pid, name="?")


    def _process_name(self, pid: int | None) -> str | None:
        """The name of process `pid` (a parent), or None when there is none or it is gone."""
        if not pid:  # 0: the kernel started it (PID 1, kthreadd), no process is its parent
            return None
        if pid not in self._names and self._native is not None:
            self._names[pid] = self._native.name(pid)
        elif pid not in self._names:
            try:
                with boundary(self._psutil):
                    self._names[pid] = self._psutil.Process(pid).name() or None
            except ProbeError as exc:
                log.debug("could not read the name of parent %s: %s", pid, exc)
                self._names[pid] = None
        return self._names[pid]


def _no_fingerprint(pid: int) -> Fingerprint:
    return None, None


def scan_listeners(owner_cache: str | os.PathLike | None = None,
                   all_netns: bool = False, warm: tuple[Any, Any] | None = None,
                   only: Callable[[Any], bool] | None = None) -> Snapshot:
    """One scan with a fresh scanner (the CLI's `list`), optionally starting from and saving
    the owner map in `owner_cache` (see `default_owner_cache()`); with `all_netns`, the
    listeners of every other network namespace too (rows with `netns` set); `warm` and `only`:
    see ListenerScanner."""
    scanner = ListenerScanner(owner_cache=owner_cache, all_netns=all_netns, warm=warm,
                              only=only)
    try:
        return scanner.scan()
    finally:
        scanner.close()
