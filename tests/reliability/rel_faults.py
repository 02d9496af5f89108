"""psutil faults injected at the scanner's boundary, counted.

`FakePsutil` is a psutil-like module over a scripted world of processes and sockets (the
portable scanner path takes it as `ListenerScanner(psutil_module)`). `FaultyPsutil` is the real
psutil except for the pids it is told to break (the fast path reads process details through
it too: `ListenerScanner(FaultyPsutil(...), fast=True)`). `FaultyOwners` wraps the fast path's
owner map. Every fault they inject is counted in `injected`, and the tests add the count to
the run's tally (rel_common.tally).
"""

from __future__ import annotations

import contextlib
import socket
from collections import namedtuple
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psutil

Addr = namedtuple("Addr", "ip port")
Conn = namedtuple("Conn", "fd family type laddr raddr status pid")

# What each injected fault raises; a callable gets (pid, attribute).
FAULTS: dict[str, Callable[[int, str], BaseException]] = {
    "gone": lambda pid, _attr: psutil.NoSuchProcess(pid),
    "denied": lambda pid, _attr: psutil.AccessDenied(pid),
    "zombie": lambda pid, _attr: psutil.ZombieProcess(pid),
    "oserror": lambda _pid, attr: OSError(5, f"Input/output error reading {attr}"),
    "psutil-error": lambda _pid, attr: psutil.Error(f"psutil could not parse {attr}"),
}
ATTRIBUTES = ("create_time", "name", "username", "exe", "cmdline", "ppid")


def tcp_listen(port: int, pid: int | None, ip: str = "127.0.0.1") -> Conn:
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    return Conn(3, family, socket.SOCK_STREAM, Addr(ip, port), (), psutil.CONN_LISTEN, pid)


def udp_bound(port: int, pid: int | None, ip: str = "127.0.0.1") -> Conn:
    return Conn(4, socket.AF_INET, socket.SOCK_DGRAM, Addr(ip, port), (), psutil.CONN_NONE, pid)


@dataclass
class FakeProc:
    """One scripted process; `faults` maps an attribute (or "process": asking for the process
    at all) to a fault name of FAULTS."""

    pid: int
    name: str
    create_time: float = 1_700_000_000.0
    username: str | None = "alice"
    exe: str | None = "/usr/bin/server"
    cmdline: tuple[str, ...] = ("server", "--port", "1")
    ppid: int = 1
    faults: dict[str, str] = field(default_factory=dict)
    sockets: list[Conn] = field(default_factory=list)


class _Counter:
    def __init__(self) -> None:
        self.injected = 0
        self.by_kind: dict[str, int] = {}

    def raise_fault(self, kind: str, pid: int, attr: str) -> None:
        self.injected += 1
        self.by_kind[kind] = self.by_kind.get(kind, 0) + 1
        raise FAULTS[kind](pid, attr)


class FakePsutil(_Counter):
    """A psutil-like module over scripted processes. `net_connections` may itself be given a
    fault ("denied": the macOS case; "oserror")."""

    NoSuchProcess = psutil.NoSuchProcess
    AccessDenied = psutil.AccessDenied
    ZombieProcess = psutil.ZombieProcess
    Error = psutil.Error
    CONN_LISTEN = psutil.CONN_LISTEN
    CONN_NONE = psutil.CONN_NONE

    def __init__(self, procs: list[FakeProc] = (), extra_conns: list[Conn] = ()) -> None:
        super().__init__()
        self.procs: dict[int, FakeProc] = {p.pid: p for p in procs}
        self.extra_conns = list(extra_conns)  # sockets whose owner the OS hides (pid None)
        self.net_fault: str | None = None
        self.process_calls = 0

    def net_connections(self, kind: str = "inet") -> list[Conn]:
        if self.net_fault:
            self.raise_fault(self.net_fault, 0, "net_connections")
        conns = [c for p in self.procs.values() for c in p.sockets]
        return conns + self.extra_conns

    def Process(self, pid: int) -> _FakeProcess:  # psutil's name
        self.process_calls += 1
        spec = self.procs.get(pid)
        if spec is None:
            self.raise_fault("gone", pid, "process")
        fault = spec.faults.get("process")
        if fault:
            self.raise_fault(fault, pid, "process")
        return _FakeProcess(self, spec)

    def process_iter(self):
        for spec in list(self.procs.values()):
            yield _FakeProcess(self, spec)


class _FakeProcess:
    def __init__(self, world: FakePsutil, spec: FakeProc) -> None:
        self._world = world
        self._spec = spec
        self.pid = spec.pid

    def oneshot(self):
        return contextlib.nullcontext()

    def _get(self, attr: str) -> Any:
        fault = self._spec.faults.get(attr)
        if fault:
            self._world.raise_fault(fault, self.pid, attr)
        return getattr(self._spec, attr)

    def create_time(self) -> float:
        return self._get("create_time")

    def name(self) -> str:
        return self._get("name")

    def username(self) -> str | None:
        return self._get("username")

    def exe(self) -> str | None:
        return self._get("exe")

    def cmdline(self) -> list[str]:
        return list(self._get("cmdline"))

    def ppid(self) -> int:
        return self._get("ppid")

    def net_connections(self, kind: str = "inet") -> list[Conn]:
        fault = self._spec.faults.get("net_connections")
        if fault:
            self._world.raise_fault(fault, self.pid, "net_connections")
        return [c._replace(pid=None) for c in self._spec.sockets]


class FaultyPsutil(_Counter):
    """The real psutil, except that `faults[pid]` maps attributes of that pid (or "process")
    to faults, and `create_times[pid]` overrides a start time (a pid reused)."""

    def __init__(self) -> None:
        super().__init__()
        self.faults: dict[int, dict[str, str]] = {}
        self.create_times: dict[int, float] = {}
        self.names: dict[int, str] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(psutil, name)

    def Process(self, pid: int) -> Any:  # psutil's name
        faults = self.faults.get(pid, {})
        if "process" in faults:
            self.raise_fault(faults["process"], pid, "process")
        return _FaultyProcess(self, psutil.Process(pid), faults)


class _FaultyProcess:
    def __init__(self, world: FaultyPsutil, proc: psutil.Process,
                 faults: dict[str, str]) -> None:
        self._world = world
        self._proc = proc
        self._faults = faults
        self.pid = proc.pid

    def __getattr__(self, attr: str) -> Any:
        real = getattr(self._proc, attr)
        if attr not in ATTRIBUTES:
            return real

        def read() -> Any:
            fault = self._faults.get(attr)
            if fault:
                self._world.raise_fault(fault, self.pid, attr)
            if attr == "create_time" and self.pid in self._world.create_times:
                return self._world.create_times[self.pid]
            if attr == "name" and self.pid in self._world.names:
                return self._world.names[self.pid]
            return real()

        return read


class FaultyOwners:
    """Wraps the fast path's OwnerMap: `resolve` may raise once (`fail_next`), report owners
    that do not exist (`ghost`: inode -> pid), and `start_time` may be overridden (a pid
    reused under the same number)."""

    def __init__(self, real: Any, counter: _Counter) -> None:
        self._real = real
        self._counter = counter
        self.fail_next: str | None = None
        self.ghost: dict[int, int] = {}
        self.start_times: dict[int, int] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def resolve(self, inodes, still_open=None):
        if self.fail_next:
            kind, self.fail_next = self.fail_next, None
            self._counter.raise_fault(kind, 0, "owner map")
        owners = self._real.resolve(inodes, still_open)
        if not self.ghost:
            return owners
        self._counter.injected += len(self.ghost)
        merged = dict(owners)
        merged.update(self.ghost)
        return merged

    @property
    def version(self) -> Any:  # ghosts change the answer: never let the scan skip its work
        return (self._real.version, tuple(sorted(self.ghost.items())),
                tuple(sorted(self.start_times.items())))

    def start_time(self, pid: int) -> int | None:
        if pid in self.start_times:
            return self.start_times[pid]
        return self._real.start_time(pid)
