"""The process on the other end of a local connection, looked up on demand.

`peer_processes(endpoints)` takes local peers as `ConnectionSummary` lists them (the address
and port of the far end of a connection to one of our listeners, on this machine) and finds
for each the socket whose local end that is (one sock_diag dump, filtered on those ports by the
kernel) and the process holding it (a walk of every process's file descriptors, as `ss -p`
does: 0.17–0.38 s with 34,000 fds here, so the window asks for it in a background job when the
details pane shows a listener with local peers, never in the poll loop). What it cannot find
it says why: the connection closed, the process is gone, or no permission to look.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import NamedTuple

from portwatch.core.probe.conndump import ConnectionDump
from portwatch.core.probe.connections import plain_address
from portwatch.core.probe.kernel import read_text
from portwatch.core.probe.owners import OwnerMap
from portwatch.core.probe.sockdiag import SockDiagError

Endpoint = tuple[str, int]  # a peer's (address, port), as Peer has them


class PeerOwner(NamedTuple):
    """The process at one local peer's end, or why it is not known."""

    pid: int | None
    name: str | None
    reason: str | None = None  # why pid is None: "unknown: <reason>"


def _no_owner(unreadable: int) -> str:
    if unreadable:
        return (f"no permission to see every process's sockets ({unreadable} processes could"
                " not be read)")
    return "no process holds its socket now (it closed, or it belongs to another namespace)"


def peer_processes(endpoints: Collection[Endpoint]) -> dict[Endpoint, PeerOwner]:
    """Who holds the local end of each of `endpoints` (see the module docstring)."""
    wanted = set(endpoints)
    if not wanted:
        return {}
    try:
        conns = ConnectionDump().connections({port for _address, port in wanted})
    except SockDiagError as exc:
        return dict.fromkeys(wanted, PeerOwner(None, None, f"connections unknown: {exc}"))
    inodes = {}
    for conn in conns:
        key = (plain_address(conn.local), conn.local_port)
        if key in wanted:
            inodes[key] = conn.inode
    owners: dict[int, int] = {}
    unreadable = 0
    if any(inodes.values()):
        walk = OwnerMap()
        owners = dict(walk.resolve({inode for inode in inodes.values() if inode}))
        unreadable = walk.stats.unreadable
    found: dict[Endpoint, PeerOwner] = {}
    for key in wanted:
        inode = inodes.get(key)
        if inode is None:
            found[key] = PeerOwner(None, None, "the connection has closed")
        elif not inode or inode not in owners:
            found[key] = PeerOwner(None, None, _no_owner(unreadable if inode else 0))
        else:
            pid = owners[inode]
            name = read_text(f"/proc/{pid}/comm")
            found[key] = (PeerOwner(pid, name.rstrip("\n")) if name is not None
                          else PeerOwner(pid, None, f"process {pid} has gone"))
    return found
