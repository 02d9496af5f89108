"""The kinds of things a listener is: protocol, address family, exposure, severity and risk.

Plain enums with no dataclass, so the modules that only need them (the netlink parser, the
saved answer of `list`) load without the model's frozen dataclasses (≈ 10 ms of a start-up).
"""

from __future__ import annotations

import enum


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
