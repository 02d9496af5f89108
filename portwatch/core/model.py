"""Immutable values shared by every layer: listeners, snapshots, diffs, catalog entries, alerts.

Everything here is a frozen dataclass (or an enum) so it can cross the worker -> GUI thread
boundary through a Qt signal without copying or locking. Nothing here imports Qt or psutil.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from portwatch.core.text import encodable


class Proto(enum.StrEnum):
    TCP = "tcp"
    UDP = "udp"


class Family(enum.StrEnum):
    IPV4 = "ipv4"
    IPV6 = "ipv6"


class Exposure(enum.StrEnum):
    """Who can reach a socket, judged from the address it is bound to."""

    LOOPBACK = "loopback"  # only this machine
    LOCAL_NETWORK = "local-network"  # one specific interface address
    ALL_INTERFACES = "all-interfaces"  # every interface: the widest reach

    @property
    def label(self) -> str:
        return _EXPOSURE_LABELS[self]

    @property
    def rank(self) -> int:
        """0 = narrowest reach; sorts loopback < local network < all interfaces."""
        return list(Exposure).index(self)


_EXPOSURE_LABELS = {
    Exposure.LOOPBACK: "loopback only",
    Exposure.LOCAL_NETWORK: "local network",
    Exposure.ALL_INTERFACES: "all interfaces",
}


class Severity(enum.StrEnum):
    """How serious a catalog security note is, on its own (before exposure is considered)."""

    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"

    @property
    def rank(self) -> int:
        return list(Severity).index(self)


class Risk(enum.StrEnum):
    """How much a user should worry about one listener: severity combined with exposure."""

    NONE = "none"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"

    @property
    def rank(self) -> int:
        return list(Risk).index(self)

    @property
    def label(self) -> str:
        """"High", "Medium", "Low", "None": the word the table and the details show."""
        return self.value.capitalize()


@dataclass(frozen=True, slots=True)
class Package:
    """The package that installed an executable: dpkg, rpm, flatpak, snap or appimage."""

    manager: str
    name: str
    version: str | None = None


# Trust flags (Provenance.flags) and what each means, in words for the user.
EXE_DELETED = "exe-deleted"
EXE_IN_TEMP_DIR = "exe-in-temp-dir"
KERNEL_LIKE_NAME = "kernel-like-name"
NAME_MISMATCH = "name-mismatch"
FLAG_TEXT = {
    EXE_DELETED: "its executable was deleted or replaced after it started",
    EXE_IN_TEMP_DIR: "it runs from a temporary or world-writable directory",
    KERNEL_LIKE_NAME: "a user program named like a kernel thread",
    NAME_MISMATCH: "its name is not its executable's (renamed, or started under another name)",
}


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where a process's executable comes from, and what about it deserves a second look.

    `flags` are short names (exe-deleted, exe-in-temp-dir, kernel-like-name, name-mismatch);
    `exe_deleted` is None when the running image could not be examined."""

    exe_deleted: bool | None = None
    package: Package | None = None
    flags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    """The process that owns a socket. Fields the OS refused to tell are None (or empty)."""

    pid: int
    name: str
    user: str | None = None
    exe: str | None = None
    cmdline: tuple[str, ...] = ()
    create_time: float | None = None  # seconds since the epoch; with pid, identifies the process
    ppid: int | None = None
    provenance: Provenance | None = None  # None: not examined (not on this system)
    parent: str | None = None  # the parent process's name


class Holder(NamedTuple):
    """One process that holds a socket (a shared socket has several)."""

    pid: int
    process: str


@dataclass(frozen=True, slots=True)
class ContainerInfo:
    """The container a listener belongs to, as its engine's API tells (None: not known)."""

    engine: str  # "podman" | "docker"
    id: str | None = None
    name: str | None = None
    image: str | None = None
    inner_process: str | None = None  # what answers inside the container's network namespace


class ListenerKey(NamedTuple):
    """Stable identity of one row: the same socket seen in two scans has the same key."""

    proto: Proto
    family: Family
    address: str
    port: int
    pid: int | None
    netns: str | None = None  # None: the host's network namespace


@dataclass(frozen=True, slots=True)
class Listener:
    """One listening socket: a TCP socket in LISTEN, or a UDP socket with no remote address."""

    proto: Proto
    family: Family
    address: str
    port: int
    exposure: Exposure
    process: ProcessInfo | None = None
    owner_hidden: bool = False  # the OS would not say who owns it (needs privileges)
    hidden_reason: str | None = None  # one sentence for the user when owner_hidden
    # Every process holding the socket, the owner (`process`) first; empty when none is known.
    holders: tuple[Holder, ...] = ()
    # The user the kernel says the socket belongs to (its uid, by name when it has one), known
    # also when the owning process is hidden; None where the OS does not tell (psutil path).
    socket_user: str | None = None
    # The kernel's socket inode where known: tells the same socket apart from a new one.
    inode: int | None = field(default=None, compare=False)
    netns: str | None = None  # None: the host's; else the namespace's name, owner or inode
    # What opens that namespace (/run/netns/NAME or /proc/PID/ns/net): where its firewall is read
    netns_path: str | None = field(default=None, compare=False)
    unit: str | None = None  # the systemd unit that started it (a socket unit for activation)
    container: ContainerInfo | None = None
    # Stable identity of the row, computed once: diffs and models look it up thousands of
    # times per poll.
    key: ListenerKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        pid = self.process.pid if self.process else None
        object.__setattr__(
            self, "key",
            ListenerKey(self.proto, self.family, self.address, self.port, pid, self.netns),
        )

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def user(self) -> str | None:
        """The owning process's user, else the socket's (known even when the owner is hidden)."""
        proc = self.process
        return (proc.user if proc is not None and proc.user else None) or self.socket_user

    @property
    def shared_with(self) -> int:
        """How many other processes hold this socket too."""
        return max(len(self.holders) - 1, 0)

    @property
    def endpoint(self) -> str:
        """address:port as a person writes it ([::1]:631 for IPv6)."""
        if self.family is Family.IPV6:
            return f"[{self.address}]:{self.port}"
        return f"{self.address}:{self.port}"


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The result of one scan. `problems` holds sentences for the user when the scan was partial."""

    taken_at: float  # time.time() when the scan finished
    listeners: tuple[Listener, ...]
    problems: tuple[str, ...] = ()

    @property
    def partial(self) -> bool:
        return bool(self.problems)

    @property
    def hidden_count(self) -> int:
        return sum(1 for item in self.listeners if item.owner_hidden)


@dataclass(frozen=True, slots=True)
class ListenerDiff:
    """What changed between two snapshots, by ListenerKey."""

    opened: tuple[Listener, ...] = ()
    closed: tuple[Listener, ...] = ()
    changed: tuple[Listener, ...] = ()  # same key, other details differ (new values)

    @property
    def empty(self) -> bool:
        return not (self.opened or self.closed or self.changed)


@dataclass(frozen=True, slots=True)
class KnownUse:
    """Software that really listens on a port in practice, with where that fact comes from."""

    software: str
    note: str
    refs: tuple[str, ...] = ()
    origin: str = "bundled"  # "bundled" or the path of the user's catalog file
    match: tuple[str, ...] = ()  # lower-case process-name patterns that identify this software

    @property
    def text(self) -> str:
        return f"{self.software}: {self.note}" if self.note else self.software


@dataclass(frozen=True, slots=True)
class SecurityNote:
    """Something a user should know about a port's security history or exposure."""

    title: str
    severity: Severity
    kind: str  # malware-history | exposure | vulnerability | amplification
    note: str
    refs: tuple[str, ...] = ()
    origin: str = "bundled"
    # Lower-case process-name patterns of the software this note is about (a CVE in one
    # product); empty when it is about the port itself (amplification, malware history).
    applies_to: tuple[str, ...] = ()
    # Conditions (see risk.py): distributions it concerns (os-release IDs), affected versions,
    # the setting that makes it harmless (asked as a question), and whether it matters to the
    # other users of this machine even on loopback.
    platforms: tuple[str, ...] = ()
    versions: str | None = None
    unless: str | None = None
    local_users: bool = False
    software: str | None = None  # the software whose notes these are (software-first notes)


@dataclass(frozen=True, slots=True)
class Software:
    """A program the catalog knows: how to recognise its process, its default ports, its notes
    (which follow it to any port)."""

    name: str
    executables: tuple[str, ...] = ()  # file names (or scripts, modules, Java classes), lower
    packages: tuple[str, ...] = ()  # names of packages that install it (dpkg, rpm)
    ports: tuple[tuple[int, int, Proto], ...] = ()  # its default ports: (low, high, proto)
    note: str = ""
    refs: tuple[str, ...] = ()
    security: tuple[SecurityNote, ...] = ()
    origin: str = "bundled"

    def as_use(self) -> KnownUse:
        """This software as a known use (when it listens on a port not among its defaults)."""
        return KnownUse(self.name, self.note, self.refs, self.origin, self.executables)


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """Everything the catalog knows about one port/proto (registry meaning, uses, security)."""

    port: int
    proto: Proto
    service: str | None = None  # IANA service name; None when unassigned
    description: str | None = None  # IANA description
    uses: tuple[KnownUse, ...] = ()
    security: tuple[SecurityNote, ...] = ()

    @property
    def registered(self) -> bool:
        return self.service is not None

    @property
    def refs(self) -> tuple[str, ...]:
        """Every reference behind this entry's facts, in order, without repeats."""
        seen: dict[str, None] = {}
        for item in (*self.uses, *self.security):
            for ref in item.refs:
                seen.setdefault(ref, None)
        return tuple(seen)


@dataclass(frozen=True, slots=True)
class Assessment:
    """The risk of one listener and the one-line reason for it."""

    risk: Risk
    reason: str
    # The notes that count for this listener: product-specific notes whose `applies_to` does
    # not match the listening process are shown as context but do not raise the risk.
    applicable: tuple[SecurityNote, ...] = ()


class Peer(NamedTuple):
    """The other end of one connection to a listener."""

    address: str
    port: int
    scope: str  # "local" (this machine) | "lan" (a private or link-local address) | "internet"
    pid: int | None = None  # the process on the other end, for a local peer, when looked up


PEER_SCOPE_WORDS = {"local": "this machine", "lan": "local network", "internet": "internet"}


@dataclass(frozen=True, slots=True)
class ConnectionSummary:
    """Who is connected to one TCP listener now (established connections)."""

    established: int = 0
    distinct_addresses: int = 0
    remote_peers: int = 0  # from other machines
    local_peers: int = 0  # from this machine (its addresses or loopback)
    peers: tuple[Peer, ...] = ()  # the first MAX_PEERS of them

    def record(self) -> dict[str, Any]:
        """The `connections` object of the JSON contract."""
        return {"established": self.established,
                "distinct_addresses": self.distinct_addresses,
                "remote_peers": self.remote_peers, "local_peers": self.local_peers,
                "peers": [{"address": p.address, "port": p.port, "scope": p.scope,
                           "pid": p.pid} for p in self.peers]}


@dataclass(frozen=True, slots=True)
class AnnotatedListener:
    """A listener joined with what the catalog knows about its port."""

    listener: Listener
    entry: CatalogEntry | None = None  # None only when no catalog was available
    assessment: Assessment | None = None
    likely_uses: tuple[KnownUse, ...] = ()  # the software the process was recognised as
    recognised_by: str | None = None  # executable | script | package | process name | ...
    flags: tuple[str, ...] = ()  # trust flags: name-mismatch, exe-deleted, exe-in-temp-dir
    # The host firewall's verdict (portwatch.core.firewall.FirewallVerdict); None for loopback
    # listeners and where no firewall reader ran.
    firewall: Any = None
    # Who is connected (TCP listeners of the host's namespace); None: not counted or unknown.
    connections: ConnectionSummary | None = None

    @property
    def key(self) -> ListenerKey:
        return self.listener.key


class AlertKind(enum.StrEnum):
    OPENED = "opened"  # appeared while portwatch was watching
    OPENED_SINCE_LAST_RUN = "opened-since-last-run"  # appeared while portwatch was not running
    SUMMARY = "summary"  # many listeners at once, coalesced
    FIRST_REMOTE = "first-remote"  # a first connection from another machine (opt-in)


@dataclass(frozen=True, slots=True)
class Alert:
    """One thing to tell the user about: newly opened listener(s)."""

    kind: AlertKind
    listeners: tuple[AnnotatedListener, ...]
    risk: Risk
    created_at: float
    title: str
    body: str  # plain text; notification backends escape it for their markup
    extra: dict[str, object] = field(default_factory=dict, compare=False, hash=False)


class ListenerIdentity(NamedTuple):
    """Who is listening where, independent of PID: survives a service restart.

    `program` is the executable path when known, else the process name, else "" (hidden owner).
    """

    program: str
    proto: Proto
    port: int
    exposure: Exposure

    @classmethod
    def of(cls, listener: Listener) -> ListenerIdentity:
        proc = listener.process
        program = (proc.exe or proc.name) if proc else ""
        # As the history stores it (bytes that were not UTF-8 as \xNN escapes), so the same
        # program is the same identity before and after a restart.
        return cls(encodable(program), listener.proto, listener.port, listener.exposure)


@dataclass(frozen=True, slots=True)
class IgnoreRule:
    """The user's "never alert for this": a process name, a port range, or both (all must match)."""

    process: str | None = None  # process name or executable path; None = any
    port_from: int | None = None
    port_to: int | None = None  # inclusive; equal to port_from for one port
    proto: Proto | None = None  # None = both

    def __post_init__(self) -> None:
        # As the history stores it (bytes that were not UTF-8 as \xNN escapes), so a rule
        # is the same rule, and matches the same program, before and after a restart.
        if self.process is not None:
            object.__setattr__(self, "process", encodable(self.process))

    def matches(self, listener: Listener) -> bool:
        proc = listener.process
        if self.process is not None and (proc is None or self.process not in (
                encodable(proc.name), encodable(proc.exe) if proc.exe else None)):
            return False
        if self.port_from is not None:
            high = self.port_to if self.port_to is not None else self.port_from
            if not self.port_from <= listener.port <= high:
                return False
        return self.proto is None or self.proto is listener.proto
