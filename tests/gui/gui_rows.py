"""Builders for GUI tests: real Listener values and real PollResults from a scripted Monitor."""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtCore import QObject, Signal, Slot

from portwatch.core.knowledge.risk import assess
from portwatch.core.model import (
    AnnotatedListener,
    CatalogEntry,
    Family,
    KnownUse,
    Listener,
    ProcessInfo,
    Proto,
    SecurityNote,
    Severity,
    Snapshot,
)
from portwatch.core.monitor import Monitor, PollResult
from portwatch.core.probe.exposure import classify

SSH_USE = KnownUse("OpenSSH (sshd)", "the standard SSH server", ("https://www.openssh.com/",))
SSH_NOTE = SecurityNote("regreSSHion (CVE-2024-6387)", Severity.HIGH, "vulnerability",
                        "remote code execution in some sshd versions",
                        ("https://nvd.nist.gov/vuln/detail/CVE-2024-6387",))
RDP_NOTE = SecurityNote("BlueKeep", Severity.HIGH, "exposure", "RDP reachable from the network")


FIXED_ENTRIES = {
    (22, Proto.TCP): CatalogEntry(22, Proto.TCP, "ssh", "The Secure Shell (SSH) Protocol",
                                  (SSH_USE,), (SSH_NOTE,)),
    (80, Proto.TCP): CatalogEntry(80, Proto.TCP, "http", "World Wide Web HTTP"),
    (3389, Proto.TCP): CatalogEntry(3389, Proto.TCP, "ms-wbt-server", "MS WBT Server",
                                    security=(RDP_NOTE,)),
    (53, Proto.UDP): CatalogEntry(53, Proto.UDP, "domain", "Domain Name Server"),
    (8080, Proto.TCP): CatalogEntry(8080, Proto.TCP, "http-alt", "HTTP Alternate"),
}


class FixedCatalog:
    """A small catalog with known content, so GUI tests do not follow the curated data."""

    def lookup(self, port: int, proto: Proto | str) -> CatalogEntry:
        proto = Proto(proto)
        return FIXED_ENTRIES.get((port, proto), CatalogEntry(port, proto))

    def annotate(self, item: Listener) -> AnnotatedListener:
        entry = self.lookup(item.port, item.proto)
        return AnnotatedListener(item, entry, assess(entry, item.exposure))


def catalog() -> FixedCatalog:
    return FixedCatalog()


def listener(port: int, proto: str = "tcp", address: str = "127.0.0.1", pid: int | None = 100,
             name: str = "server", user: str = "alice", cmdline: tuple[str, ...] = ("server",),
             exe: str | None = "/usr/bin/server") -> Listener:
    family = Family.IPV6 if ":" in address else Family.IPV4
    process = ProcessInfo(pid, name, user, exe, cmdline, 1_700_000_000.0, 1) if pid else None
    return Listener(Proto(proto), family, address, port, classify(address), process,
                    owner_hidden=pid is None,
                    hidden_reason="owned by another user (run portwatch with sudo to see it)"
                    if pid is None else None)


class ScriptedMonitor:
    """A real Monitor whose scans are whatever the test sets next."""

    def __init__(self, annotate: bool = True) -> None:
        self.current: tuple[Listener, ...] = ()
        self.monitor = Monitor(self._scan, catalog() if annotate else None)
        self.taken = 1_700_000_000.0

    def _scan(self) -> Snapshot:
        self.taken += 1
        return Snapshot(self.taken, self.current)

    def poll(self, listeners: Iterable[Listener]) -> PollResult:
        self.current = tuple(listeners)
        return self.monitor.poll()


class Recorder(QObject):
    """Receives a worker's cross-thread signals in the GUI thread (a queued connection), so
    tests wait on `recorded` instead of on the worker's own signal, whose plain-callable
    receivers would run in the worker thread."""

    recorded = Signal(object)

    def __init__(self) -> None:
        super().__init__()
        self.items: list[object] = []

    @Slot(object)
    def record(self, value: object) -> None:
        self.items.append(value)
        self.recorded.emit(value)
