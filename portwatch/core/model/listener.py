"""What the probe sees: a listener, its process and container, a snapshot and the diff of two.

Frozen dataclasses and enums (see the package's docstring).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

# the enums live apart, without dataclasses (see kinds.py); this is still their public home
from portwatch.core.model.kinds import Exposure, Family, Proto, Risk, Severity  # noqa: F401


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
    host: str | None = None  # None: this machine; else the ssh destination it was read from


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
    # None: this machine; else the other machine's ssh destination (USER@HOST, HOST, an
    # ssh_config alias) whose portwatch reported it (the window's remote hosts)
    host: str | None = None
    # Stable identity of the row, computed once: diffs and models look it up thousands of
    # times per poll.
    key: ListenerKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        pid = self.process.pid if self.process else None
        object.__setattr__(
            self, "key",
            ListenerKey(self.proto, self.family, self.address, self.port, pid, self.netns,
                        self.host),
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
