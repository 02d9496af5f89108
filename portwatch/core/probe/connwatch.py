"""Who is connected to each listener, counted in the poll loop at a bounded cost.

`ConnectionWatch.count(rows)` dumps the established TCP connections to the host's TCP
listeners' ports (`conndump`) and says whether they changed; `summary(listener)` is then one
listener's `ConnectionSummary`. Counting costs the kernel's walk of its table of established
sockets and a message for each connection to a listener (≈ 1 µs each here): ≈ 8 ms at 10,000
connections, so it runs every poll. Only a count that gets slow (far more connections, or a
starved machine) is spaced out, so that counting takes at most `COST_SHARE` of one core (every
poll at a 1 s interval while a count takes up to 20 ms), and at least every `MAX_WAIT` seconds.
A connection shorter than the wait between counts can go unseen.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection
from typing import Any

from portwatch.core.model import ConnectionSummary, Listener, Proto
from portwatch.core.probe.conndump import ConnectionDump
from portwatch.core.probe.connections import ConnectionIndex
from portwatch.core.probe.sockdiag import SockDiagError

log = logging.getLogger(__name__)

COST_SHARE = 0.02  # counting takes at most 2 % of a core (the safety cadence)
MAX_WAIT = 30.0  # seconds: counted at least this often


def _counted(listener: Listener) -> bool:
    return listener.proto is Proto.TCP and listener.netns is None


class ConnectionWatch:
    """Connections of the host's TCP listeners, counted again when due (see the module
    docstring). Not thread-safe: one per Monitor."""

    def __init__(self, local_addresses: Callable[[], Collection[str]],
                 dump: ConnectionDump | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._local_addresses = local_addresses
        self._dump = dump or ConnectionDump()
        self._clock = clock
        self._next = 0.0
        self._conns: Any = None
        self._listeners: Any = None
        self._ports: frozenset[int] = frozenset()
        self._index: ConnectionIndex | None = None
        self.problem: str | None = None  # why connections are unknown (None while counted)
        self.cost = 0.0  # seconds the last count took (0: not counted yet)
        self.wait = 0.0  # seconds until the next count

    def count(self, listeners: Collection[Listener]) -> bool:
        """Count again when due; True when the connections (or whether they are known)
        changed since the last count."""
        now = self._clock()
        if now < self._next:
            return False
        started = time.perf_counter()
        if listeners is not self._listeners:  # the scanner's very tuple while unchanged
            self._listeners = listeners
            self._ports = frozenset(item.port for item in listeners if _counted(item))
        try:
            conns = self._dump.connections(self._ports)
        except SockDiagError as exc:
            changed = self._index is not None or self.problem is None
            if changed:
                log.warning("connections unknown: %s", exc)
            self.problem, self._index, self._conns = f"connections unknown: {exc}", None, None
            self.wait = MAX_WAIT
            self._next = now + self.wait
            return changed
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
