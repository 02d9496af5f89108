"""Kernel facts portwatch reads: the range of ports handed out to client sockets, the boot id."""

from __future__ import annotations

IANA_EPHEMERAL = (49152, 65535)


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
