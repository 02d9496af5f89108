"""Who is connected to a listener: its peers and the summary `list`, the table and the details
show, and the words for both that need no listener.

NamedTuples, not dataclasses: `list` answered from its saved answer (core/output/saved_list.py)
counts connections without loading the model's dataclasses.
"""

from __future__ import annotations

from typing import Any, NamedTuple


class Peer(NamedTuple):
    """The other end of one connection to a listener."""

    address: str
    port: int
    scope: str  # "local" (this machine) | "lan" (a private or link-local address) | "internet"
    pid: int | None = None  # the process on the other end, for a local peer, when looked up


PEER_SCOPE_WORDS = {"local": "this machine", "lan": "local network", "internet": "internet"}


class ConnectionSummary(NamedTuple):
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


def count_text(record: dict | None) -> str:
    """The `connections` object in a `list` column: "3 (1 remote)", "0"; "-" when not
    counted."""
    if not record:
        return "-"
    if record["remote_peers"]:
        return f"{record['established']} ({record['remote_peers']} remote)"
    return str(record["established"])
