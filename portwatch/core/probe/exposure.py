"""Judge who can reach a socket from the address it is bound to (and order addresses)."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from portwatch.core.model import Exposure


def _parse(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = address.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])  # without an IPv6 zone id
    except ValueError:
        return None


# Both are pure functions of the text, asked once per listener (2,000 listeners share a handful
# of addresses) and parsing with ipaddress costs ~10 µs: remembered.
@lru_cache(maxsize=4096)
def address_key(address: str) -> tuple[int, int, str]:
    """A sort key that orders addresses numerically (127.0.2.3 before 127.0.2.20), IPv4
    before IPv6, and text that is not an address after both."""
    ip = _parse(address)
    if ip is None:
        return (7, 0, address)
    return (ip.version, int(ip), address)


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
