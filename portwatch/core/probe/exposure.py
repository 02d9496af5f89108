"""Judge who can reach a socket from the address it is bound to (and order addresses)."""

from __future__ import annotations

import ipaddress
import socket
from functools import lru_cache

from portwatch.core.model.kinds import Exposure

_PACKED = (("4:", socket.AF_INET), ("6:", socket.AF_INET6))


def _parse(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = address.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])  # without an IPv6 zone id
    except ValueError:
        return None


# Both are pure functions of the text, asked once per listener (2,000 listeners share a handful
# of addresses): remembered.
@lru_cache(maxsize=4096)
def address_key(address: str) -> str:
    """The one sort key of addresses (the table, `list`, `watch`): numerically (127.0.2.3
    before 127.0.2.20), IPv4 before IPv6, text that is not an address after both. A string
    (the family, the packed address in hex, the text), so Qt's sort compares it natively."""
    bare = address.split("%", 1)[0]  # without an IPv6 zone id
    for prefix, family in _PACKED:
        try:
            return f"{prefix}{socket.inet_pton(family, bare).hex()} {address}"
        except (OSError, ValueError):
            continue
    return f"7:{address}"


@lru_cache(maxsize=4096)
def classify(address: str) -> Exposure:
    """Loopback (127.0.0.0/8, ::1 and their IPv4-mapped forms), all interfaces (0.0.0.0, ::),
    or local network (any other, specific interface address).

    Unparseable text is treated as local network: narrower than "all interfaces" but never
    claimed to be safe.
    """
    ip = _parse(address)  # fe80::1%eth0: the zone id is dropped
    if ip is None:
        return Exposure.LOCAL_NETWORK
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_unspecified:
        return Exposure.ALL_INTERFACES
    if ip.is_loopback:
        return Exposure.LOOPBACK
    return Exposure.LOCAL_NETWORK
