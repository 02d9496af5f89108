"""The words for who is connected to a listener: the Connections cell, its tooltip, a peer.

Used by the field declaration (table, `list`, CSV) and the details pane's peers list.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from portwatch.core.model.connection import (  # count_text: its public home is here
    PEER_SCOPE_WORDS,
    ConnectionSummary,
    Peer,
    count_text,
)
from portwatch.core.text import visible

if TYPE_CHECKING:
    from portwatch.core.model import AnnotatedListener

NOT_COUNTED = ("Connections are counted for the TCP listeners of this machine's own network"
               " namespace; not for UDP (no connections) nor other namespaces.")
UNKNOWN = "unknown: portwatch could not list this machine's connections (sock_diag)"


def connections_label(summary: ConnectionSummary | None) -> str:
    """"3 (1 remote)", "0"; "" when not counted."""
    if summary is None:
        return ""
    if summary.remote_peers:
        return f"{summary.established} ({summary.remote_peers} remote)"
    return str(summary.established)


def connections_sentence(summary: ConnectionSummary) -> str:
    """One sentence: how many connections, from how many addresses, where from."""
    if not summary.established:
        return "no established connections now"
    count = summary.established
    text = (f"{count} established connection{'s' if count != 1 else ''} from "
            f"{summary.distinct_addresses} address{'es' if summary.distinct_addresses != 1 else ''}"
            f": {summary.remote_peers} from other machines, {summary.local_peers} from this one")
    if summary.remote_peers:
        text += " — reachable in practice: another machine is connected now"
    return text


def peer_endpoint(peer: Peer) -> str:
    """"10.0.0.7:51234", "[fe80::1]:51234"; with the process of a local peer when known."""
    address = f"[{peer.address}]" if ":" in peer.address else peer.address
    return f"{visible(address)}:{peer.port}" + (f", PID {peer.pid}" if peer.pid is not None
                                                   else "")


def peer_text(peer: Peer) -> str:
    """"10.0.0.7:51234 (local network)"."""
    return f"{peer_endpoint(peer)} ({PEER_SCOPE_WORDS.get(peer.scope, peer.scope)})"


def connections_tip(item: AnnotatedListener) -> list[str]:
    summary = item.connections
    if summary is None:
        return [NOT_COUNTED]
    lines = [connections_sentence(summary)]
    lines += [peer_text(peer) for peer in summary.peers[:10]]
    if summary.established > 10:
        lines.append(f"… {summary.established - 10} more (the details list up to "
                     f"{len(summary.peers)})")
    return lines


def connections_csv(record: dict | None) -> str:
    """The `connections` object as one CSV cell: "3 (1 remote): 10.0.0.7:5123, …"."""
    if not record:
        return ""
    peers = ", ".join(f"{p['address']}:{p['port']}" for p in record["peers"])
    head = count_text(record)
    return f"{head}: {peers}" if peers else head
