"""Who is connected to each listener, from the established TCP connections that
`conndump.ConnectionDump` lists (local and remote endpoints with the inode).

`ConnectionIndex` groups them by local port once, so each listener's
summary (`for_listener`) is a dictionary lookup: how many connections, from how many distinct
addresses, how many from other machines and how many from this one, and for local peers the
process on the other end (the socket whose local end is this connection's remote end).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from portwatch.core.model.connection import ConnectionSummary, Peer
from portwatch.core.model.kinds import Exposure
from portwatch.core.probe.exposure import classify

if TYPE_CHECKING:
    from portwatch.core.model import Listener

TCP_ESTABLISHED = 1
_SCOPES = ("internet", "lan", "local")
_SCOPE_ORDER = {scope: rank for rank, scope in enumerate(_SCOPES)}
MAX_PEERS = 50  # peers listed per listener (the counts cover all)


class Connection(NamedTuple):
    local: str
    local_port: int
    remote: str
    remote_port: int
    inode: int


def plain_address(address: str) -> str:
    """An IPv4-mapped IPv6 address (::ffff:10.0.0.1) as the IPv4 address it is."""
    if address.startswith("::ffff:") and "." in address:
        return address[7:]
    return address


class ConnectionIndex:
    """Established connections grouped by local port, with this machine's addresses."""

    def __init__(self, connections: Collection[Connection], local_addresses: Collection[str],
                 owner_of: Callable[[Collection[int]], Mapping[int, int]] | None = None) -> None:
        self._by_port: dict[int, list[Connection]] = {}
        self._by_local: dict[tuple[str, int], int] = {}
        for conn in connections:
            self._by_port.setdefault(conn.local_port, []).append(conn)
            self._by_local[(plain_address(conn.local), conn.local_port)] = conn.inode
        self._local = {plain_address(a) for a in local_addresses}
        self._owner_of = owner_of
        self._scopes: dict[str, str] = {}  # a peer's address -> its scope

    def _is_local(self, address: str) -> bool:
        plain = plain_address(address)
        if plain in self._local:
            return True
        try:
            return ipaddress.ip_address(plain).is_loopback
        except ValueError:
            return False

    def scope(self, address: str) -> str:
        """Where a peer is: "local" (this machine), "lan" or "internet"."""
        known = self._scopes.get(address)
        if known is None:
            known = self._scopes[address] = self._scope(address)
        return known

    def _scope(self, address: str) -> str:
        if self._is_local(address):
            return "local"
        try:
            ip = ipaddress.ip_address(plain_address(address).split("%", 1)[0])
        except ValueError:
            return "internet"  # never the reassuring guess
        return "lan" if ip.is_private or ip.is_link_local else "internet"

    def summary(self, listener: Listener) -> ConnectionSummary:
        """Who is connected to one TCP listener."""
        candidates = self._by_port.get(listener.port)
        if not candidates:
            return NO_CONNECTIONS
        bound = plain_address(listener.address)
        unspecified = classify(bound) is Exposure.ALL_INTERFACES
        conns = [c for c in candidates
                 if (unspecified and (bound == "::" or ":" not in c.local))
                 or plain_address(c.local) == bound]
        if not conns:
            return NO_CONNECTIONS
        # other machines first (the internet, then the local network), then by address
        ranked = sorted(((_SCOPE_ORDER[self.scope(c.remote)], c) for c in conns),
                        key=lambda pair: (pair[0], plain_address(pair[1].remote),
                                          pair[1].remote_port))
        conns = [c for _rank, c in ranked]
        scopes = [_SCOPES[rank] for rank, _c in ranked]
        local = [c for c, where in zip(conns, scopes, strict=True) if where == "local"]
        owners: Mapping[int, int] = {}
        if self._owner_of is not None:
            peer_inodes = {self._by_local.get((plain_address(c.remote), c.remote_port))
                           for c in local}
            peer_inodes.discard(None)
            owners = self._owner_of(peer_inodes) if peer_inodes else {}  # type: ignore[arg-type]
        peers = []
        for conn, where in zip(conns[:MAX_PEERS], scopes, strict=False):
            inode = self._by_local.get((plain_address(conn.remote), conn.remote_port))
            pid = owners.get(inode) if inode is not None and where == "local" else None
            peers.append(Peer(plain_address(conn.remote), conn.remote_port, where, pid))
        return ConnectionSummary(len(conns), len({plain_address(c.remote) for c in conns}),
                                 len(conns) - len(local), len(local), tuple(peers))

    def for_listener(self, listener: Listener) -> dict[str, Any]:
        """The `connections` object of the JSON contract for one TCP listener."""
        return self.summary(listener).record()


NO_CONNECTIONS = ConnectionSummary()
