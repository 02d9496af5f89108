"""Kernel facts portwatch reads: the range of ports handed out to client sockets, the boot id,
whether the host forwards packets, and which iptables-legacy tables are loaded.

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


def boot_id() -> str:
    """This boot's random id ("" when unreadable): what a file kept between runs belongs to."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as handle:
            return handle.read().strip()
    except OSError:
        return ""


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
