"""The one module that calls psutil: list every listening socket with its owning process.

`ListenerScanner.scan()` returns a Snapshot of TCP sockets in LISTEN and UDP sockets with no
remote address, IPv4 and IPv6. psutil faults never escape as exceptions: a process that exits
mid-scan is dropped (its socket went with it), a process whose details are denied keeps what
could be read, and a socket whose owner the OS hides is kept with `owner_hidden` and a reason.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Iterable
from typing import Any

import psutil

from portwatch.core.exposure import classify
from portwatch.core.model import Family, Listener, ProcessInfo, Proto, Snapshot

log = logging.getLogger(__name__)

HIDDEN_NEEDS_PRIVILEGES = (
    "owned by another user: the system tells only administrators which process this is"
    " (run portwatch with sudo to see it)"
)
HIDDEN_NO_PROCESS = (
    "no process owns this socket: it belongs to the kernel (for example NFS, WireGuard or"
    " a socket handed over at boot), to a process in another container, or its owner exited a"
    " moment ago"
)

_FAMILIES = {socket.AF_INET: Family.IPV4, socket.AF_INET6: Family.IPV6}


def _is_privileged() -> bool:
    geteuid = getattr(os, "geteuid", None)
    return geteuid is None or geteuid() == 0  # Windows: psutil tells what it can


def _listening(conn: Any) -> tuple[Proto, Family, str, int] | None:
    """(proto, family, address, port) when conn is a listener; None otherwise."""
    family = _FAMILIES.get(conn.family)
    if family is None or not conn.laddr:
        return None
    if conn.type == socket.SOCK_STREAM:
        if conn.status != psutil.CONN_LISTEN:
            return None
        proto = Proto.TCP
    elif conn.type == socket.SOCK_DGRAM:
        if conn.raddr:  # a connected UDP socket talks to one peer: a client, not a listener
            return None
        proto = Proto.UDP
    else:
        return None
    return proto, family, conn.laddr.ip, conn.laddr.port


def _read(getter: Callable[[], Any], default: Any) -> Any:
    """One process attribute; AccessDenied gives the default (NoSuchProcess propagates)."""
    try:
        return getter()
    except psutil.AccessDenied:
        return default


class ListenerScanner:
    """Scans listeners; remembers process details by (pid, start time) between scans."""

    def __init__(self, psutil_module: Any = psutil) -> None:
        self._psutil = psutil_module
        self._processes: dict[int, ProcessInfo] = {}

    def scan(self) -> Snapshot:
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
        self._processes = {pid: info for pid, info in self._processes.items() if pid in alive}
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
        privileged = _is_privileged()
        seen: set[tuple] = set()
        listeners: list[Listener] = []
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
                reason = HIDDEN_NO_PROCESS if privileged else HIDDEN_NEEDS_PRIVILEGES
                listeners.append(
                    Listener(proto, family, address, port, classify(address),
                             owner_hidden=True, hidden_reason=reason)
                )
                continue
            info = self._process_info(pid)
            if info is None:
                log.debug("process %s exited during the scan; dropping its sockets", pid)
                continue
            listeners.append(Listener(proto, family, address, port, classify(address), info))
        return listeners

    def _process_info(self, pid: int) -> ProcessInfo | None:
        """Details of pid, or None when it no longer exists."""
        ps = self._psutil
        try:
            proc = ps.Process(pid)
            create_time = _read(proc.create_time, None)
            cached = self._processes.get(pid)
            if cached is not None and cached.create_time == create_time:
                return cached
            with proc.oneshot():
                info = ProcessInfo(
                    pid=pid,
                    name=_read(proc.name, "?") or "?",
                    user=_read(proc.username, None),
                    exe=_read(proc.exe, None) or None,
                    cmdline=tuple(_read(proc.cmdline, ()) or ()),
                    create_time=create_time,
                    ppid=_read(proc.ppid, None),
                )
        except ps.NoSuchProcess:  # includes ZombieProcess: a zombie holds no sockets
            return None
        except OSError as exc:  # anything else the OS says: keep the socket, owner unknown
            log.debug("could not read process %s: %s", pid, exc)
            return ProcessInfo(pid=pid, name="?")
        self._processes[pid] = info
        return info


def scan_listeners() -> Snapshot:
    """One scan with a fresh scanner (the CLI's `list`)."""
    return ListenerScanner().scan()


