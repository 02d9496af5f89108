"""The window's remote hosts: each host's answers to `portwatch list --json` (over ssh, read by
core/remote.py) become PollResults merged with this machine's into one table.

`Fleet` belongs to the thread that polls (the GUI's worker). Per host it keeps a `Monitor` whose
scan is the host's last answer and whose annotations are the ones that host's portwatch sent, so
opened and closed listeners, owner changes, the alert rules (the local Monitor's, with the
host in each identity) and the history (the same file; no new run, and the timeline keeps
counting this machine's listeners) work as for this machine. A host in `alerts_off` goes
through the alert rules all the same (what it opens is learnt, as a baseline is) but its
alerts are dropped: none reaches the window, the notifications or the alert channels.
`merge` puts every machine's rows into each PollResult the table receives, with `host`
saying whose poll it was and `hosts` every host's status. A host that cannot be reached drops
out of the table without recording closes (whether they closed is unknown) and starts from a
new baseline when it answers again.
"""

from __future__ import annotations

import dataclasses
import logging
import sqlite3
import time
from dataclasses import dataclass

from portwatch.core.model import AnnotatedListener, ListenerKey, Snapshot
from portwatch.core.monitor import Monitor, PollResult

log = logging.getLogger(__name__)

CONNECTING = "connecting"
OK = "ok"
UNREACHABLE = "unreachable"


@dataclass(frozen=True, slots=True)
class HostStatus:
    """How one remote host is doing, for the status bar and File > Remove host."""

    host: str
    state: str  # CONNECTING | OK | UNREACHABLE
    reason: str = ""  # why it is unreachable, or what its answer left out
    listeners: int = 0
    checked_at: float | None = None  # when it last answered or failed
    retry_in: float | None = None  # seconds until the next try after a failure
    alerts: bool = True  # False: its alerts are off (Fleet.alerts_off)

    @property
    def text(self) -> str:
        """One line: "web1: 12 listeners", "db2: unreachable — why" (and "; alerts off")."""
        off = "; alerts off" if not self.alerts else ""
        if self.state == OK:
            extra = f" ({self.reason})" if self.reason else ""
            return f"{self.host}: {self.listeners} listeners{extra}{off}"
        if self.state == CONNECTING:
            return f"{self.host}: connecting…{off}"
        retry = f"; trying again in {self.retry_in:g} s" if self.retry_in else ""
        return f"{self.host}: unreachable — {self.reason}{retry}{off}"


class _GivenAnnotations:
    """The annotator of a host's Monitor: the annotations the host's portwatch sent. When one
    of them changed for the same socket (its risk, its catalog facts), the Monitor annotates
    every row again (`refresh_needed`), so the table shows the host's latest answer."""

    def __init__(self) -> None:
        self.rows: dict[ListenerKey, AnnotatedListener] = {}
        self.changed = False

    def give(self, rows: list[AnnotatedListener]) -> None:
        fresh = {row.key: row for row in rows}  # one row per key
        old = self.rows
        self.changed = any(key in old and old[key] != row for key, row in fresh.items())
        self.rows = fresh

    def refresh_needed(self) -> bool:
        return self.changed

    def annotate(self, listener) -> AnnotatedListener:
        return self.rows[listener.key]


class _GivenConnections:
    """Who is connected to a host's listeners, as its portwatch counted them (the Monitor's
    connection counter for that host: first connections from the network are told as for
    this machine)."""

    problem = None

    def __init__(self, given: _GivenAnnotations) -> None:
        self.given = given

    def count(self, _listeners) -> bool:
        return True  # counted there, at each answer

    def summary(self, listener):
        row = self.given.rows.get(listener.key)
        return row.connections if row is not None else None


class _HostHistory:
    """A host's events into the local history store, in the store's current run (a host's
    first answer is `present` events, not a new run), without a listener count (the timeline
    is this machine's). A locked file keeps them for the next write (the store's own retry)."""

    def __init__(self, store, host: str) -> None:
        self.store = store
        self.host = host

    def record(self, result: PollResult) -> None:
        from portwatch.core.store.history_events import events_of

        # No listener count: the timeline counts this machine's listeners (its minute table
        # keeps the lowest and highest count; an event without one leaves them alone).
        events = [dataclasses.replace(item, listeners=None) for item in events_of(result)]
        if not events:
            return
        try:
            self.store.record_events(events)
        except sqlite3.OperationalError as exc:  # held by the store, written with a later poll
            log.info("history: %s's events wait for the file: %s", self.host, exc)


class _Host:
    def __init__(self, name: str) -> None:
        self.name = name
        self.status = HostStatus(name, CONNECTING)
        self.given = _GivenAnnotations()
        self.snapshot = Snapshot(0.0, ())
        self.monitor = Monitor(lambda: self.snapshot, self.given,
                               connections=_GivenConnections(self.given))
        self.rows: tuple[AnnotatedListener, ...] = ()


class Fleet:
    """This machine's Monitor and the remote hosts, merged into one table."""

    def __init__(self, local: Monitor) -> None:
        self.local = local
        self._hosts: dict[str, _Host] = {}
        self._local_rows: tuple[AnnotatedListener, ...] = ()
        # hosts whose alerts are off (settings' hosts_without_alerts)
        self.alerts_off: frozenset[str] = frozenset()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._hosts)

    def statuses(self) -> tuple[HostStatus, ...]:
        return tuple(dataclasses.replace(host.status, alerts=name not in self.alerts_off)
                     for name, host in self._hosts.items())

    def add(self, name: str) -> PollResult | None:
        """Start showing `name` (connecting until it answers); None when it is there already."""
        if name in self._hosts:
            return None
        self._hosts[name] = _Host(name)
        return self._changed(name, closed=())

    def remove(self, name: str) -> PollResult | None:
        """Stop showing `name`: its rows leave the table (nothing is recorded)."""
        host = self._hosts.pop(name, None)
        if host is None:
            return None
        return self._changed(name, closed=host.rows)

    def local_polled(self, result: PollResult) -> PollResult:
        """This machine's poll, with the hosts' rows beside its own."""
        self._local_rows = result.rows
        if not self._hosts:
            return result
        return self._merge(result, None)

    def answered(self, name: str, rows: list[AnnotatedListener], duration: float,
                 notes: tuple[str, ...] = ()) -> PollResult | None:
        """`name` sent its listeners: diff, alert rules and history as for this machine."""
        host = self._hosts.get(name)
        if host is None:
            return None  # removed while its ssh ran
        host.given.give(rows)
        host.snapshot = Snapshot(time.time(), tuple(row.listener
                                                    for row in host.given.rows.values()))
        monitor = host.monitor
        rules = self.local.alert_rules
        sibling = getattr(rules, "sibling", None)
        monitor.alert_rules = sibling(monitor.alert_rules) if sibling is not None else None
        store = self.local.history
        monitor.history = (_HostHistory(store, name) if hasattr(store, "record_events")
                           else None)
        result = monitor.poll()
        host.rows = result.rows
        host.status = HostStatus(name, OK, "; ".join(notes), len(result.rows),
                                 host.snapshot.taken_at)
        # The table inserts a host's first rows as new ones (they are new to this window)
        result = dataclasses.replace(result, first=False, duration=duration, notices=(),
                                     problems=(), unrecorded=0)
        if name in self.alerts_off:  # learnt by the rules above, told to no one
            result = dataclasses.replace(result, alerts=())
        return self._merge(result, name)

    def failed(self, name: str, reason: str, retry_in: float | None) -> PollResult | None:
        """`name` could not be read: its rows leave the table, unrecorded, and its next
        answer is a new baseline."""
        host = self._hosts.get(name)
        if host is None:
            return None
        gone = host.rows
        fresh = _Host(name)
        fresh.status = HostStatus(name, UNREACHABLE, reason, 0, time.time(), retry_in)
        self._hosts[name] = fresh
        return self._changed(name, closed=gone)

    def _changed(self, name: str, closed: tuple[AnnotatedListener, ...]) -> PollResult:
        result = PollResult(Snapshot(time.time(), ()), (), (), closed, (), first=False,
                            duration=0.0)
        return self._merge(result, name)

    def _merge(self, result: PollResult, name: str | None) -> PollResult:
        rows = self._local_rows + tuple(row for host in self._hosts.values() for row in host.rows)
        return dataclasses.replace(result, rows=rows, host=name, hosts=self.statuses())
