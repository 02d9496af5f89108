"""Kernel facts portwatch reads: the range of ports handed out to client sockets, the boot id,
the pid counters (which processes may be new since a saved owner map), this process's
privileges, whether the host forwards packets, and which iptables-legacy tables
are loaded.

The last two are read for the firewall verdict, possibly in another network namespace: they
take `read` (a path -> its text, or None when it cannot be read), which the firewall's Host
gives to read through `ip netns exec`; by default the file is read here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

IANA_EPHEMERAL = (49152, 65535)
Read = Callable[[str], str | None]
_FORWARDING = {"ip": "/proc/sys/net/ipv4/ip_forward",
               "ip6": "/proc/sys/net/ipv6/conf/all/forwarding"}
_LEGACY_TABLES = {"ip": "/proc/net/ip_tables_names", "ip6": "/proc/net/ip6_tables_names"}


def ephemeral_port_range(path: str = "/proc/sys/net/ipv4/ip_local_port_range") -> tuple[int, int]:
    """The range the OS hands out to client sockets (Linux's setting, else IANA's 49152-65535)."""
    try:
        with open(path, encoding="ascii") as handle:
            low, high = (int(part) for part in handle.read().split())
    except (OSError, ValueError):
        return IANA_EPHEMERAL
    return low, high


def pid_counters() -> tuple[int, int] | None:
    """(the last pid handed out in this pid namespace, forks since boot), or None: a later
    pair tells which processes are new without reading each one's start time (see
    `pids_since`)."""
    try:
        with open("/proc/sys/kernel/ns_last_pid", encoding="ascii") as handle:
            last = int(handle.read())
        with open("/proc/stat", "rb") as handle:
            for line in handle:
                if line.startswith(b"processes "):
                    return last, int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def pids_since(then: tuple[int, int] | None) -> int | None:
    """The last pid handed out at `then` (pid_counters() then) when every process started
    since has a higher pid, else None (a lower pid may be new too). Pids are handed out
    upwards until they wrap; every fork (of this namespace or of one inside it) takes one, so
    when the forks since are no more than the pids handed out since, none wrapped. In a
    container's pid namespace the whole machine's forks count: it says None, and the caller
    reads every start time instead."""
    now = pid_counters()
    if then is None or now is None:
        return None
    (last, forks), (last_now, forks_now) = then, now
    if last_now < last or forks_now - forks > last_now - last:
        return None
    return last


def boot_id() -> str:
    """This boot's random id ("" when unreadable): what a file kept between runs belongs to."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as handle:
            return handle.read().strip()
    except OSError:
        return ""


def privileges() -> str:
    """This process's effective user and capabilities ("" when unreadable): what a cache kept
    between runs was read with. A run with fewer privileges (a service unit that keeps fewer
    capabilities, a capsh'ed shell) must not show what only a run with more could see."""
    fields = {}
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key in ("Uid", "CapEff"):
                    fields[key] = value.split()
    except OSError:
        return ""
    if "Uid" not in fields or "CapEff" not in fields:
        return ""
    return f"{fields['Uid'][1]}:{fields['CapEff'][0]}"


def read_text(path: str) -> str | None:
    """A file's text here, or None when it cannot be read (missing, not permitted)."""
    try:
        return Path(path).read_text()
    except OSError:
        return None


def ip_forwarding(read: Read = read_text) -> dict[str, bool]:
    """Whether the host forwards IPv4 ("ip") and IPv6 ("ip6") packets; a setting that cannot
    be read counts as off (the kernel's default)."""
    return {family: (read(path) or "0").strip() == "1" for family, path in _FORWARDING.items()}


def legacy_iptables_tables(family: str, read: Read = read_text) -> list[str]:
    """The iptables-legacy tables the kernel has loaded for "ip" or "ip6" (raw, filter, ...);
    none when the legacy x_tables module is not loaded."""
    return (read(_LEGACY_TABLES[family]) or "").split()
