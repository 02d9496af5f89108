"""Every network namespace of the machine: find them and list their listening sockets.

A listener inside another network namespace (`ip netns add`, `unshare --net`, a container, a
sandbox) is invisible to sock_diag in ours. `NamespaceFinder` finds the distinct namespaces from
`/proc/<pid>/ns/net` and `/run/netns/*` (reading only new processes and a rotating few old ones
per scan; `/run/netns` again only when the directory changed). `NamespaceScanner` lists each
one's listeners with the same sock_diag dump as the host scan: its netlink socket is opened
inside the namespace once (`nsenter`: setns(2) in a short-lived thread) and kept, so a scan
costs one dump per namespace. A kept socket pins its namespace, so it is closed as soon as the
namespace is no longer found.

A dump walks the kernel's socket tables whatever the namespace holds (≈ 0.15 ms for the four
dumps of an empty one), so a namespace is dumped again only when something in it may have
changed: one of its processes came or went, ran (its schedstat run time) or opened or closed a
file descriptor (the size of /proc/<pid>/fd) — a socket cannot appear or go without that —, it
has more than `MAX_WATCHED` processes, or `REDUMP_AFTER` seconds passed (a socket created there
by a process outside, or held by the kernel).

Entering a namespace needs CAP_SYS_ADMIN: without it the namespaces seen are counted
(`unreadable`), never silently dropped.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import time
import weakref
from collections.abc import Callable
from typing import NamedTuple

from portwatch.core.model import Exposure
from portwatch.core.probe.exposure import classify
from portwatch.core.probe.nsenter import (
    NETLINK_ROUTE,
    KeptSockDiag,
    only_loopback,
    open_inside,
)
from portwatch.core.probe.sockdiag import NETLINK_SOCK_DIAG, DiagSocket

log = logging.getLogger(__name__)

_INTERFACES_TTL = 5.0  # seconds before a namespace's interfaces are read again
REDUMP_AFTER = 10.0  # seconds: a namespace whose processes did nothing is dumped again anyway
MAX_WATCHED = 8  # a namespace with more processes is dumped every scan


class Namespace(NamedTuple):
    """One network namespace other than portwatch's own."""

    inode: int
    path: str  # what opens it: /run/netns/NAME, else /proc/PID/ns/net
    name: str | None  # its name under /run/netns
    pid: int | None  # a process inside it (None: only a /run/netns bind mount keeps it)


def namespace_inode(path: str = "/proc/self/ns/net") -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


class NamespaceFinder:
    """The distinct network namespaces other than ours, found cheaply between scans."""

    def __init__(self, proc: str = "/proc", run: str = "/run/netns",
                 recheck_per_scan: int = 8) -> None:
        self._proc = self.proc = proc
        # The pids another reader listed in /proc this scan (the scanner's owner map), so
        # /proc is not listed twice; None: list it here.
        self.pids: Callable[[], set[int] | None] = lambda: None
        self._run = run
        self._recheck = recheck_per_scan
        self._own = namespace_inode(f"{proc}/self/ns/net")
        self._pid_ns: dict[int, int | None] = {}  # pid -> namespace inode (None: not readable)
        self._rotation = 0
        self._run_stamp: tuple | None = None
        self._named: dict[int, str] = {}  # inode -> name under /run/netns
        self._state: tuple | None = None
        self._found: dict[int, Namespace] = {}
        self.members: dict[int, tuple[int, ...]] = {}  # namespace inode -> its pids
        self.unreadable_pids = 0  # processes whose namespace we may not see

    def find(self) -> dict[int, Namespace]:
        """inode -> Namespace; the same dict object as last time when nothing changed."""
        changed = self._scan_processes() | self._scan_run()
        if not changed and self._state is not None:
            return self._found
        found: dict[int, Namespace] = {}
        members: dict[int, list[int]] = {}
        for inode, name in self._named.items():
            if inode != self._own:
                found[inode] = Namespace(inode, f"{self._run}/{name}", name, None)
        for pid, inode in sorted(self._pid_ns.items()):
            if inode is None or inode == -1 or inode == self._own:
                continue
            members.setdefault(inode, []).append(pid)
            known = found.get(inode)
            if known is None:
                found[inode] = Namespace(inode, f"{self._proc}/{pid}/ns/net", None, pid)
            elif known.pid is None:
                found[inode] = known._replace(pid=pid)
        self._state = ()
        self.members = {inode: tuple(pids) for inode, pids in members.items()}
        self.unreadable_pids = sum(1 for inode in self._pid_ns.values() if inode is None)
        if found != self._found:
            self._found = found
        return self._found

    def _read(self, pid: int) -> int | None:
        """The namespace inode of pid; None when we may not see it; -1 when pid is gone."""
        try:
            return os.stat(f"{self._proc}/{pid}/ns/net").st_ino
        except (PermissionError, FileNotFoundError) as exc:
            return None if isinstance(exc, PermissionError) else -1
        except OSError:
            return -1

    def _scan_processes(self) -> bool:
        known = self._pid_ns
        live = self.pids()
        if live is None:
            live = {int(name) for name in os.listdir(self._proc) if name.isdigit()}
        changed = False
        for pid in known.keys() - live:
            del known[pid]
            changed = True
        for pid in live - known.keys():
            known[pid] = self._read(pid)
            changed = True
        # A process that called unshare(2) or setns(2) keeps its pid: re-read a few per scan.
        pids = list(known)
        if pids and self._recheck:
            start = self._rotation % len(pids)
            for pid in pids[start:start + self._recheck]:
                inode = self._read(pid)
                if inode != known[pid]:
                    known[pid] = inode
                    changed = True
            self._rotation = start + self._recheck
        return changed

    def _scan_run(self) -> bool:
        try:
            st = os.stat(self._run)
        except OSError:
            stamp = None
        else:
            stamp = (st.st_ino, st.st_mtime_ns)
        if stamp == self._run_stamp:
            return False
        self._run_stamp = stamp
        named: dict[int, str] = {}
        if stamp is not None:
            for name in sorted(os.listdir(self._run)):
                inode = namespace_inode(f"{self._run}/{name}")
                if inode is not None:
                    named.setdefault(inode, name)
        changed = named != self._named
        self._named = named
        return changed


class _Inside:
    """The kept netlink sockets of one namespace and what was read through them."""

    def __init__(self, namespace: Namespace, diag_sock: socket.socket,
                 route_sock: socket.socket) -> None:
        self.namespace = namespace
        self.diag = KeptSockDiag(diag_sock)
        self.route = route_sock
        self.sockets: tuple[DiagSocket, ...] = ()
        self.isolated: bool | None = None  # no interface but loopback is up
        self.checked = -float("inf")
        self.dumped = -float("inf")
        self.activity: tuple | None = None  # of its processes when it was last dumped

    def close(self) -> None:
        self.diag.release()
        self.route.close()


class NamespaceScanner:
    """Listening sockets of every other network namespace, one dump per namespace per scan.

    `listeners()` returns (socket, namespace) pairs, the same tuple object when nothing changed;
    `exposure(namespace, address)` judges reach against that namespace's own interfaces;
    `unreadable` counts namespaces seen but not entered (and `unreadable_pids` processes whose
    namespace could not even be seen). `label(namespace)` names it for people."""

    def __init__(self, finder: NamespaceFinder | None = None,
                 describe: Callable[[int], str | None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.finder = finder or NamespaceFinder()
        self._describe = describe
        self._clock = clock
        self._inside: dict[int, _Inside] = {}
        self._refused: dict[int, str] = {}  # inode -> why it could not be entered
        self._labels: dict[int, str] = {}
        self._last: tuple[tuple[DiagSocket, Namespace], ...] = ()
        self.unreadable = 0
        self.unreadable_pids = 0
        self.dumps: dict[int, int] = {}  # namespace inode -> dumps made (for tests and benches)
        # Closes the kept sockets when the scanner is dropped without close().
        self._finalizer = weakref.finalize(self, _close_all, self._inside)

    def close(self) -> None:
        self._finalizer()

    def listeners(self) -> tuple[tuple[DiagSocket, Namespace], ...]:
        found = self.finder.find()
        for inode in self._inside.keys() - found.keys():
            self._inside.pop(inode).close()  # gone: do not keep it alive
        for inode in self._refused.keys() - found.keys():
            del self._refused[inode]
        for inode in self._labels.keys() - found.keys():
            del self._labels[inode]
        for inode in self.dumps.keys() - found.keys():
            del self.dumps[inode]
        now = self._clock()
        result: list[tuple[DiagSocket, Namespace]] = []
        for inode, namespace in found.items():
            inside = self._enter(namespace)
            if inside is None:
                continue
            inside.namespace = namespace
            activity = self._activity(self.finder.members.get(inode, ()))
            if activity is not None and activity == inside.activity \
                    and now - inside.dumped < REDUMP_AFTER:
                result.extend((item, namespace) for item in inside.sockets)
                continue  # nothing in it ran or changed its fds: its sockets are as they were
            inside.activity = activity
            inside.dumped = now
            self.dumps[inode] = self.dumps.get(inode, 0) + 1
            try:
                sockets = inside.diag.listeners()
                if sockets is not inside.sockets or now - inside.checked > _INTERFACES_TTL:
                    inside.isolated = only_loopback(inside.route)
                    inside.checked = now
            except OSError as exc:
                log.debug("cannot list the sockets of namespace %s: %s", inode, exc)
                self._inside.pop(inode).close()
                continue
            inside.sockets = sockets
            result.extend((item, namespace) for item in sockets)
        self.unreadable = len(self._refused)
        self.unreadable_pids = self.finder.unreadable_pids
        if len(result) != len(self._last) or any(
                a[0] is not b[0] or a[1] != b[1] for a, b in zip(result, self._last, strict=True)):
            self._last = tuple(result)
        return self._last

    def _activity(self, pids: tuple[int, ...]) -> tuple | None:
        """What the namespace's processes did so far: (pid, open fds, run time) each; None
        when there are too many to watch or one could not be read (then it is dumped)."""
        if len(pids) > MAX_WATCHED:
            return None
        proc = self.finder.proc
        found = []
        for pid in pids:
            try:
                fds = os.stat(f"{proc}/{pid}/fd").st_size
                with open(f"{proc}/{pid}/schedstat", "rb") as handle:
                    ran = handle.read().split(b" ", 1)[0]
            except OSError:
                return None
            found.append((pid, fds, ran))
        return tuple(found)

    def _enter(self, namespace: Namespace) -> _Inside | None:
        inside = self._inside.get(namespace.inode)
        if inside is not None:
            return inside
        if namespace.inode in self._refused:
            return None
        try:
            diag_sock, route_sock = open_inside(namespace.path, NETLINK_SOCK_DIAG, NETLINK_ROUTE)
        except OSError as exc:
            # EPERM: not root. ENOENT: it vanished; the finder forgets it next scan.
            self._refused[namespace.inode] = os.strerror(exc.errno or errno.EPERM)
            log.debug("cannot enter network namespace %s: %s", namespace.path, exc)
            return None
        inside = self._inside[namespace.inode] = _Inside(namespace, diag_sock, route_sock)
        return inside

    @property
    def entered(self) -> frozenset[int]:
        """Inodes of the namespaces whose netlink sockets are kept now."""
        return frozenset(self._inside)

    def open_inodes(self) -> set[int]:
        """The listener inodes open now in every entered namespace (a fresh dump)."""
        inodes: set[int] = set()
        for inside in self._inside.values():
            try:
                inodes.update(item.inode for item in inside.diag.listeners())
            except OSError:
                continue
        return inodes

    def exposure(self, namespace: Namespace, address: str) -> Exposure:
        """Reach within the namespace: where no interface but loopback is up, nothing outside
        the namespace can connect, whatever the address."""
        inside = self._inside.get(namespace.inode)
        if inside is not None and inside.isolated:
            return Exposure.LOOPBACK
        return classify(address)

    def label(self, namespace: Namespace) -> str:
        """Its /run/netns name, else what owns its process (container, unit), else its inode."""
        label = self._labels.get(namespace.inode)
        if label is None:
            label = namespace.name
            if label is None and namespace.pid is not None and self._describe is not None:
                label = self._describe(namespace.pid)
            label = self._labels[namespace.inode] = label or f"net:[{namespace.inode}]"
        return label

    def problem(self) -> str | None:
        """One sentence when some namespaces could not be read, else None."""
        root = os.geteuid() == 0
        parts = []
        if self.unreadable:
            parts.append(f"{self.unreadable} other network namespace(s) could not be entered ("
                         + ("this root process lacks CAP_SYS_ADMIN" if root else
                            "run portwatch with sudo") + ")")
        if self.unreadable_pids:
            parts.append(f"the network namespace of {self.unreadable_pids} process(es) is hidden"
                         " from portwatch" + ("" if root else " (run portwatch with sudo)"))
        if not parts:
            return None
        return "; ".join(parts) + ": their listeners are not shown"


def _close_all(inside: dict[int, _Inside]) -> None:
    for item in inside.values():
        item.close()
    inside.clear()
