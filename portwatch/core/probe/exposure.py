"""Judge who can reach a socket from the address it is bound to."""

from __future__ import annotations

import ipaddress

from portwatch.core.model import Exposure


def classify(address: str) -> Exposure:
    """Loopback (127.0.0.0/8, ::1 and their IPv4-mapped forms), all interfaces (0.0.0.0, ::),
    or local network (any other, specific interface address).

    Unparseable text is treated as local network: narrower than "all interfaces" but never
    claimed to be safe.
    """
    text = address.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    host = text.split("%", 1)[0]  # drop an IPv6 zone id (fe80::1%eth0)
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return Exposure.LOCAL_NETWORK
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_unspecified:
        return Exposure.ALL_INTERFACES
    if ip.is_loopback:
        return Exposure.LOOPBACK
    return Exposure.LOCAL_NETWORK
