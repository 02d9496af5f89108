"""The probe's scanner: list every listening socket with its owning process.

`ListenerScanner.scan()` returns a Snapshot of TCP sockets in LISTEN and UDP sockets with no
remote address, IPv4 and IPv6. psutil and OS faults pass the probe's one boundary
(`errors.boundary`) and never escape as exceptions: a process that exits
mid-scan is dropped (its socket went with it), a process whose details are denied keeps what
could be read, and a socket whose owner the OS hides is kept with `owner_hidden` and a reason.

Two paths give the same rows. On Linux the fast path lists sockets over netlink sock_diag
(`sockdiag`) and finds owners with an inode -> process map kept between scans (`owners`): a
steady-state scan costs a few milliseconds where walking every process's fds costs hundreds.
Everywhere else, and on Linux when netlink is not usable, the portable path asks
`psutil.net_connections()`. Process details come from psutil on both, cached by pid, start time
and what exec() changes (probe.provenance.fingerprint: the running executable and the name), so a
process that became another program is read again at the next scan; its provenance (package,
trust flags) is examined once per such identity. The fast path also knows every process that
holds a socket (`Listener.holders`, the owner first) and the socket's own user (its uid).
"""

from __future__ import annotations

import logging
import os
import pwd
import socket
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil

from portwatch.core.model import (
    Exposure,
    Family,
    Holder,
    Listener,
    ProcessInfo,
    Proto,
    Snapshot,
)
from portwatch.core.probe.errors import AccessDenied, ProbeError, ProcessGone, boundary
from portwatch.core.probe.exposure import classify
from portwatch.core.probe.provenance import Fingerprint, ProvenanceReader, fingerprint

if TYPE_CHECKING:
    from portwatch.core.probe.owners import WalkStats

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


# Seeing who owns another user's socket means listing its /proc/<pid>/fd (CAP_DAC_READ_SEARCH or
# CAP_DAC_OVERRIDE) and reading the links there (the ptrace read check: CAP_SYS_PTRACE).
_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH, _CAP_SYS_PTRACE = 1, 2, 19


def _effective_capabilities(path: str = "/proc/self/status") -> int | None:
    try:
        with open(path, encoding="ascii") as handle:
            for line in handle:
                if line.startswith("CapEff:"):
                    return int(line.split()[1], 16)
    except (OSError, ValueError, IndexError):
        pass
    return None


def _is_privileged() -> bool:
    """Whether the system would show this process every socket's owner: root (or a service
    granted the capabilities) with what the /proc walk needs. Root whose capabilities were
    bounded away is not: its hidden owners are hidden, not the kernel's."""
    geteuid = getattr(os, "geteuid", None)
    if geteuid is None:
        return True  # Windows: psutil tells what it can
    caps = _effective_capabilities() if sys.platform.startswith("linux") else None
    if caps is None:
        return geteuid() == 0
    search = caps & (1 << _CAP_DAC_READ_SEARCH | 1 << _CAP_DAC_OVERRIDE)
    return bool(search and caps & 1 << _CAP_SYS_PTRACE)


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


def _read(getter: Callable[[], Any], default: Any, ps: Any = psutil) -> Any:
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
    milliseconds instead of a walk of every process's fds."""

    def __init__(self, psutil_module: Any = None, *, fast: bool | None = None,
                 owner_cache: str | os.PathLike | None = None, all_netns: bool = False) -> None:
        self._psutil = psutil if psutil_module is None else psutil_module
        self._processes: dict[int, tuple[Fingerprint, ProcessInfo]] = {}
        # An injected psutil (tests) describes processes that are not this system's: judge
        # them by what it says, never by the /proc entry that happens to have the same pid.
        own = psutil_module is None
        self._provenance = ProvenanceReader("/proc" if own else None)
        self._fingerprint = fingerprint if own else _no_fingerprint
        if fast is None:
            fast = psutil_module is None and sys.platform.startswith("linux")
        self._origins = None
        namespaces = None
        if sys.platform.startswith("linux"):
            from portwatch.core.probe.origins import Origins

            self._origins = Origins()
            if all_netns and fast:
                from portwatch.core.probe.netns import NamespaceScanner

                namespaces = NamespaceScanner(describe=self._origins.describe)
        self._fast: _FastPath | None = (
            _FastPath(self._read_process, self._provenance, owner_cache, namespaces)
            if fast else None
        )
        self.backend = "netlink" if fast else "psutil"
        self.fallback_reason: str | None = None
        # Parent names read during one scan: many owners share a parent (a supervisor, init).
        self._names: dict[int, str | None] = {}

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
        hidden_reason = _hidden_reason()
        exposure = _Exposures()
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
                    Listener(proto, family, address, port, exposure(address),
                             owner_hidden=True, hidden_reason=hidden_reason)
                )
                continue
            info = infos[pid] if pid in infos else infos.setdefault(pid, self._process_info(pid))
            if info is None:
                log.debug("process %s exited during the scan; dropping its sockets", pid)
                continue
            # psutil names one holder of a shared socket, and not the socket's uid.
            listeners.append(Listener(proto, family, address, port, exposure(address), info,
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
        """Read pid's details with psutil; None when it no longer exists."""
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
        if pid not in self._names:
            try:
                with boundary(self._psutil):
                    self._names[pid] = self._psutil.Process(pid).name() or None
            except ProbeError as exc:
                log.debug("could not read the name of parent %s: %s", pid, exc)
                self._names[pid] = None
        return self._names[pid]


def _no_fingerprint(pid: int) -> Fingerprint:
    return None, None


class _Exposures(dict[str, Exposure]):
    """classify(address), remembered: 2,000 listeners share a handful of addresses, and
    parsing each with ipaddress costs ~10 µs."""

    def __missing__(self, address: str) -> Exposure:
        value = self[address] = classify(address)
        return value

    def __call__(self, address: str) -> Exposure:
        return self[address]


def _hidden_reason() -> str:
    return HIDDEN_NO_PROCESS if _is_privileged() else HIDDEN_NEEDS_PRIVILEGES


class _FastPath:
    """Linux: sockets from netlink sock_diag, owners from the kept inode -> process map.

    Rows are built as the psutil path builds them (one per socket and owner pid, deduplicated by
    (proto, family, address, port, pid)); unchanged sockets reuse last scan's Listener objects.
    Each scan re-reads the fingerprint of the processes in the table (what exec changes), so a
    process that became another program is read again and its rows rebuilt."""

    def __init__(self, read_process: Callable[[int], ProcessInfo | None],
                 provenance: ProvenanceReader | None = None,
                 owner_cache: str | os.PathLike | None = None, namespaces: Any = None) -> None:
        from portwatch.core.probe.owners import OwnerMap
        from portwatch.core.probe.sockdiag import SockDiag

        self._diag = SockDiag()
        self.namespaces = namespaces  # a probe.netns.NamespaceScanner, or None: host only
        self._inner: tuple = ()
        if namespaces is not None:  # the owner map lists /proc already: the pids of its scan
            namespaces.finder.pids = lambda: self.owners.live
        self.owners = OwnerMap()
        self._owner_cache = owner_cache
        self._restored = False
        self._read_process = read_process
        self._provenance = provenance if provenance is not None else ProvenanceReader()
        # pid -> (start, fingerprint, info) of the processes in the last table
        self._details: dict[int, tuple[int | None, Fingerprint, ProcessInfo]] = {}
        self._rows: dict[tuple, Listener] = {}
        self._exposure = _Exposures()
        self._users = _UserNames()
        self._sockets: tuple = ()
        self._inodes: set[int] = set()
        self._state: tuple = ()  # (sockets, owners version, hidden reason) of the last scan
        self._result: tuple[Listener, ...] = ()
        self.worked = False

    def close(self) -> None:
        self._diag.close()
        if self.namespaces is not None:
            self.namespaces.close()
        if self._owner_cache is not None and self.worked:
            from portwatch.core.probe.owners import write_saved

            # The packages of the executables seen go along: `list` then reads no dpkg lists.
            saved = {**self.owners.saved(), "packages": self._provenance.packages.saved()}
            try:
                write_saved(self._owner_cache, saved)
            except OSError as exc:
                log.debug("could not save the owner map to %s: %s", self._owner_cache, exc)

    def scan(self) -> tuple[Listener, ...]:
        sockets = self._diag.listeners()
        if self._owner_cache is not None and not self._restored:
            from portwatch.core.probe.owners import read_saved

            self._restored = True
            saved = read_saved(self._owner_cache)
            if saved is not None and not self.owners.restore(saved):
                log.debug("the saved owner map %s does not fit; starting cold",
                          self._owner_cache)
            elif saved is not None:
                self._provenance.packages.restore(saved.get("packages"))
        inner = self.namespaces.listeners() if self.namespaces is not None else ()
        if sockets is not self._sockets or inner is not self._inner:
            self._sockets, self._inner = sockets, inner
            self._inodes = {item.inode for item in sockets}
            self._inodes.update(item.inode for item, _ in inner)
        owners = self.owners.resolve(self._inodes, self._open_inodes)
        self.worked = True
        if self._forget_execed():
            self._state = ()  # a process became another program: its rows are built anew
        vanished = self.owners.vanished
        hidden_reason = _hidden_reason()
        state = (sockets, inner, self.owners.version, hidden_reason, len(vanished))
        if state == self._state:  # same sockets, same owners: the same rows
            return self._result
        holders_of = self.owners.holders
        details: dict[int, tuple[int | None, Fingerprint, ProcessInfo]] = {}
        unknown = self.owners.holder_pids() - self._details.keys()
        if unknown:
            self._provenance.prefetch(unknown)  # the packages of new executables in one pass
        gone: set[int] = set()
        alone: dict[int, tuple[Holder, ...]] = {}  # pid -> its one-holder tuple, shared
        previous = self._rows
        exposure = self._exposure
        users = self._users
        rows: dict[tuple, Listener] = {}
        namespaces = self.namespaces
        for item, space in ((item, None) for item in sockets) if not inner else (
                *((item, None) for item in sockets), *inner):
            pid = owners.get(item.inode)
            netns = namespaces.label(space) if space is not None else None
            netns_path = space.path if space is not None else None
            key = (item.proto, item.family, item.address, item.port, pid, netns)
            if key in rows or (vanished and item.inode in vanished):
                continue
            reach = exposure(item.address) if space is None else namespaces.exposure(
                space, item.address)
            if pid is None:
                row = previous.get(key)
                if row is None or row.hidden_reason != hidden_reason or row.exposure != reach:
                    row = Listener(item.proto, item.family, item.address, item.port,
                                   reach, owner_hidden=True,
                                   hidden_reason=hidden_reason, socket_user=users[item.uid],
                                   inode=item.inode, netns=netns, netns_path=netns_path)
                rows[key] = row
                continue
            if pid in gone:
                continue
            info = self._process(pid, details)
            if info is None:
                gone.add(pid)
                log.debug("process %s exited during the scan; dropping its sockets", pid)
                continue
            held = holders_of(item.inode)
            if len(held) == 1:  # the common case, and cheap
                holders = alone.get(pid) or alone.setdefault(pid, (Holder(pid, info.name),))
            else:
                holders = self._holders(held, details, gone)
            row = previous.get(key)
            if row is None or row.process is not info or row.exposure != reach or (
                    row.holders is not holders and row.holders != holders):
                row = Listener(item.proto, item.family, item.address, item.port,
                               reach, info, holders=holders,
                               socket_user=users[item.uid], inode=item.inode, netns=netns,
                               netns_path=netns_path)
            rows[key] = row
        self._details = details
        self._rows = rows
        # A process that could not be read costs its rows for this scan only: when some
        # were dropped, the next scan builds the rows again even if nothing else changed.
        self._state = state if not gone else ()
        self._result = tuple(rows.values())
        return self._result

    def _holders(self, pids: tuple[int, ...], details: dict, gone: set[int]
                 ) -> tuple[Holder, ...]:
        """(pid, name) of each holder still there, the owner first."""
        found = []
        for pid in pids:
            info = None if pid in gone else self._process(pid, details)
            if info is None:
                gone.add(pid)
            else:
                found.append(Holder(pid, info.name))
        return tuple(found)

    def _forget_execed(self) -> bool:
        """Drop the details of processes whose executable or name changed (exec); True if any.
        Two small reads per process in the table: the steady-state cost of noticing exec."""
        execed = [pid for pid, (_, known, _) in self._details.items()
                  if fingerprint(pid) != known]
        for pid in execed:
            del self._details[pid]
        return bool(execed)

    def _open_inodes(self) -> set[int]:
        """The listener inodes open now (a second, cheap dump)."""
        inodes = {item.inode for item in self._diag.listeners()}
        if self.namespaces is not None:
            inodes |= self.namespaces.open_inodes()
        return inodes

    def _process(self, pid: int, details: dict) -> ProcessInfo | None:
        known = details.get(pid)
        if known is not None:
            return known[2]
        start = self.owners.start_time(pid)
        known = self._details.get(pid)
        if known is None or known[0] != start or start is None:
            seen = fingerprint(pid)  # before reading: an exec meanwhile shows next scan
            info = self._read_process(pid)
            if info is None:
                return None
            known = (start, seen, info)
        details[pid] = known
        return known[2]


class _UserNames(dict[int, str]):
    """uid -> user name (the uid as text when it has none), remembered for the run."""

    def __missing__(self, uid: int) -> str:
        try:
            name = pwd.getpwuid(uid).pw_name
        except (KeyError, OverflowError):
            name = str(uid)
        self[uid] = name
        return name


def default_owner_cache() -> Path:
    """Where one-shot scans keep the owner map between runs: the data directory, and only
    once it exists (the window or `watch` made it), so `list` alone creates nothing."""
    from portwatch.core.files.paths import data_dir

    uid = os.geteuid() if hasattr(os, "geteuid") else 0
    return data_dir() / f"owner-map-{uid}.json"


def scan_listeners(owner_cache: str | os.PathLike | None = None,
                   all_netns: bool = False) -> Snapshot:
    """One scan with a fresh scanner (the CLI's `list`), optionally starting from and saving
    the owner map in `owner_cache` (see `default_owner_cache()`); with `all_netns`, the
    listeners of every other network namespace too (rows with `netns` set)."""
    scanner = ListenerScanner(owner_cache=owner_cache, all_netns=all_netns)
    try:
        return scanner.scan()
    finally:
        scanner.close()
