"""Who is connected to each listener, counted in the poll loop at a bounded cost.

`ConnectionWatch.count(rows)` dumps the established TCP connections to the host's TCP
listeners' ports (`conndump`) and says whether they changed; `summary(listener)` is then one
listener's `ConnectionSummary`. Counting costs the kernel's walk of its table of established
sockets and a message for each connection to a listener (≈ 1 µs each here): ≈ 8 ms at 10,000
connections.

**The counters gate.** Before a dump it reads the kernel's TCP counters of its network
namespace (`tcp_counters`: the "Tcp:" line of /proc/net/snmp, ≈ 20 µs). When they and the
listeners' ports are what they were just before the last dump, no established socket has come
or gone since, so the last count still holds and no dump runs. Why that is sound: a socket
enters ESTABLISHED on a segment it receives (the SYN-ACK, or the handshake's last ACK:
InSegs), and leaves it on a segment received (FIN or RST: InSegs), a segment sent (close's FIN
or RST: OutSegs), or a timeout that ends it (CurrEstab goes down). The one way in without a
segment is a socket restored with TCP_REPAIR (CRIU), which raises CurrEstab; only if another
socket timed out in the same interval could the two cancel out, so a full dump still runs at
least every `MAX_WAIT` seconds. An idle machine therefore pays ≈ 20 µs per poll for its
connections; a machine with TCP traffic dumps again whenever its counters moved.

**The safety cadence.** A dump that gets slow (far more connections, or a starved machine) is
spaced out, so that dumping takes at most `COST_SHARE` of one core (every poll at a 1 s
interval while a dump takes up to 20 ms). A connection shorter than the wait between counts
can go unseen.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Collection
from types import EllipsisType
from typing import Any

from portwatch.core.model import ConnectionSummary, Listener, Proto
from portwatch.core.probe.conndump import ConnectionDump
from portwatch.core.probe.connections import ConnectionIndex
from portwatch.core.probe.sockdiag import SockDiagError

log = logging.getLogger(__name__)

COST_SHARE = 0.02  # dumping takes at most 2 % of a core (the safety cadence)
MAX_WAIT = 30.0  # seconds: dumped at least this often, whatever the counters say
TCP_COUNTERS = "/proc/thread-self/net/snmp"  # the calling thread's network namespace


def tcp_counters(path: str = TCP_COUNTERS) -> bytes | None:
    """The values of the kernel's TCP counters ("Tcp:" in /proc/net/snmp) of the calling
    thread's network namespace, as the kernel wrote them; None when they cannot be read."""
    chunks = []
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            while chunk := os.read(fd, 8192):
                chunks.append(chunk)
        finally:
            os.close(fd)
    except OSError:
        return None
    data = b"".join(chunks)
    names = data.find(b"\nTcp: ")  # the first "Tcp:" line names, the second has values
    values = data.find(b"\nTcp: ", names + 1) if names >= 0 else -1
    if values < 0:
        return None
    end = data.find(b"\n", values + 1)
    return data[values + 6:end if end >= 0 else len(data)]


def _counted(listener: Listener) -> bool:
    return listener.proto is Proto.TCP and listener.netns is None


class ConnectionWatch:
    """Connections of the host's TCP listeners, counted again when due (see the module
    docstring). Not thread-safe: one per Monitor."""

    def __init__(self, local_addresses: Callable[[], Collection[str]],
                 dump: ConnectionDump | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 counters: Callable[[], bytes | None] | EllipsisType | None = ...) -> None:
        """`counters`: the TCP counters of the dump's namespace, by default `tcp_counters`
        with our own dump and none (no gate: every count dumps) with a `dump` handed in, whose
        namespace may be another; None: no gate."""
        if counters is ...:
            counters = tcp_counters if dump is None else None
        self._local_addresses = local_addresses
        self._dump = dump or ConnectionDump()
        self._clock = clock
        self._counters = counters
        self._seen: bytes | None = None  # the counters just before the last dump
        self._next = 0.0
        self._full_next = 0.0  # a dump whatever the counters say, from then on
        self._conns: Any = None
        self._listeners: Any = None
        self._ports: frozenset[int] = frozenset()
        self._index: ConnectionIndex | None = None
        self.problem: str | None = None  # why connections are unknown (None while counted)
        self.cost = 0.0  # seconds the last dump took (0: not dumped yet)
        self.wait = 0.0  # seconds from the last dump until the next may run
        self.dumps = 0  # how many dumps ran (the counters gate skips the others)

    def count(self, listeners: Collection[Listener]) -> bool:
        """Count again when due; True when the connections (or whether they are known)
        changed since the last count."""
        now = self._clock()
        if now < self._next:
            return False
        started = time.perf_counter()
        same_ports = True
        if listeners is not self._listeners:  # the scanner's very tuple while unchanged
            self._listeners = listeners
            ports = frozenset(item.port for item in listeners if _counted(item))
            same_ports, self._ports = ports == self._ports, ports
        seen = self._counters() if self._counters is not None else None
        if seen is not None and seen == self._seen and same_ports \
                and self._index is not None and now < self._full_next:
            return False  # no socket came or went: the last count holds (module docstring)
        try:
            conns = self._dump.connections(self._ports)
        except SockDiagError as exc:
            changed = self._index is not None or self.problem is None
            if changed:
                log.warning("connections unknown: %s", exc)
            self.problem, self._index, self._conns = f"connections unknown: {exc}", None, None
            self._seen = None
            self.wait = MAX_WAIT
            self._next = now + self.wait
            return changed
        self.dumps += 1
        self._seen = seen
        self._full_next = now + MAX_WAIT
        changed = conns is not self._conns or self._index is None
        if changed:
            self._conns = conns
            self._index = ConnectionIndex(conns, self._local_addresses())
        self.problem = None
        cost = time.perf_counter() - started
        # The lower of the last two costs: the first count decodes everything, and a busy
        # machine makes one count slow now and then.
        self.wait = min(MAX_WAIT, min(cost, self.cost or cost) / COST_SHARE)
        self.cost = cost
        self._next = now + self.wait
        return changed

    def summary(self, listener: Listener) -> ConnectionSummary | None:
        """Who is connected to `listener` as last counted (None: UDP, another namespace, or
        not known)."""
        if self._index is None or not _counted(listener):
            return None
        return self._index.summary(listener)
