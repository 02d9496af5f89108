"""One poll of the monitoring pipeline: scan -> diff -> catalog annotation (-> alerts, history).

`Monitor` is plain Python and keeps the previous scan. The GUI's worker thread calls `poll()` on
a timer and sends the immutable `PollResult` to the GUI thread; `portwatch watch` calls the same
`poll()` in a loop. Alert rules and the history store plug in as optional collaborators.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from portwatch.core.diff import diff
from portwatch.core.model import (
    Alert,
    AnnotatedListener,
    Listener,
    ListenerDiff,
    ListenerKey,
    Snapshot,
)

log = logging.getLogger(__name__)


class Annotator(Protocol):
    def annotate(self, listener): ...  # Listener -> AnnotatedListener


class AlertRules(Protocol):
    def evaluate(self, result: PollResult) -> tuple[Alert, ...]: ...


class EventSink(Protocol):
    def record(self, result: PollResult) -> None: ...


class Connections(Protocol):  # probe.connwatch.ConnectionWatch
    problem: str | None

    def count(self, listeners) -> bool: ...

    def summary(self, listener): ...  # Listener -> ConnectionSummary | None


class OwnerChange(NamedTuple):
    """The owner of a listening socket changed while the socket stayed: the process exec'd
    another program (same pid), or the socket is now held by another process only."""

    row: AnnotatedListener
    previous: AnnotatedListener


@dataclass(frozen=True, slots=True)
class PollResult:
    """Everything one poll learned. `rows` is the whole current table; `opened`, `closed` and
    `changed` are the differences from the previous poll (all annotated)."""

    snapshot: Snapshot
    rows: tuple[AnnotatedListener, ...]
    opened: tuple[AnnotatedListener, ...]
    closed: tuple[AnnotatedListener, ...]
    changed: tuple[AnnotatedListener, ...]
    first: bool  # the first poll of this run (the baseline)
    duration: float  # seconds the poll took
    alerts: tuple[Alert, ...] = ()
    problems: tuple[str, ...] = ()  # sentences for the status bar (scan, catalog, history)
    # Sockets whose owner changed; a pid change also shows as a closed and an opened row
    # (the table is keyed by pid), exec as a changed one.
    owner_changes: tuple[OwnerChange, ...] = ()
    notices: tuple[str, ...] = ()  # said once, when it happened (history stopped, resumed)
    unrecorded: int = 0  # events the history could not write (kept in memory, or lost)
    # Listeners that have a connection from another machine for the first time since
    # portwatch saw them open (not on the first poll: those were connected already).
    first_remote: tuple[AnnotatedListener, ...] = ()
    # The window's remote hosts (core/hosts.py): the machine whose poll this is (None: this
    # one) and every added host's status; `rows` then holds every machine's listeners.
    host: str | None = None
    hosts: tuple = ()  # HostStatus values

    @property
    def row_map(self) -> dict[ListenerKey, AnnotatedListener]:
        return {row.key: row for row in self.rows}

    @property
    def host_rows(self) -> tuple[AnnotatedListener, ...]:
        """This machine's rows in its own network namespace (what the status bar and the tray
        count): not other namespaces', not other machines'."""
        return tuple(row for row in self.rows
                     if row.listener.netns is None and row.listener.host is None)


class Monitor:
    """Keeps the previous scan and turns each new one into a PollResult."""

    def __init__(
        self,
        scan: Callable[[], Snapshot],
        annotator: Annotator | None = None,
        alert_rules: AlertRules | None = None,
        history: EventSink | None = None,
        connections: Connections | None = None,
    ) -> None:
        self._scan = scan
        self._annotator = annotator
        self._connections = connections
        self._remote_seen: set[ListenerKey] = set()  # rows that had a remote peer
        self.alert_rules = alert_rules
        self.history = history
        self._previous: dict[ListenerKey, AnnotatedListener] | None = None
        self._listeners: tuple = ()  # the scanner's tuple of the last poll
        self._rows: tuple[AnnotatedListener, ...] = ()
        self._host: tuple[tuple, tuple] = ((), ())  # (rows, the host's rows of them)

    def _annotate(self, listener) -> AnnotatedListener:
        item = (AnnotatedListener(listener) if self._annotator is None
                else self._annotator.annotate(listener))
        summary = self._connections.summary(listener) if self._connections else None
        return item if summary is None else dataclasses.replace(item, connections=summary)

    def _count_connections(self, result: PollResult) -> PollResult:
        """Count connections again when due: rows whose connections changed become `changed`
        rows (the history and `watch` report owner changes only), and rows with their first
        connection from another machine `first_remote`."""
        watch = self._connections
        if watch is None:
            return result
        started = time.perf_counter()
        changed_connections = watch.count(result.snapshot.listeners)
        # said at every poll while it lasts, not only at the poll where it began
        problems = result.problems + ((watch.problem,) if watch.problem else ())
        if not changed_connections:
            return _replace(result, problems=problems,
                            duration=result.duration + time.perf_counter() - started)
        fresh = {row.key for row in result.opened}
        changed = {row.key: row for row in result.changed}
        rows = []
        first_remote = []
        for row in result.rows:
            summary = watch.summary(row.listener)
            if summary != row.connections:
                row = dataclasses.replace(row, connections=summary)
                if row.key not in fresh:
                    changed[row.key] = row
            if summary is not None and summary.remote_peers and row.key not in self._remote_seen:
                self._remote_seen.add(row.key)
                if not result.first:
                    first_remote.append(row)
            rows.append(row)
        self._remote_seen.intersection_update(row.key for row in rows)
        self._rows = rows_tuple = tuple(rows)
        self._previous = {row.key: row for row in rows_tuple}
        return _replace(result, rows=rows_tuple, changed=tuple(changed.values()),
                        opened=tuple(self._previous[row.key] for row in result.opened),
                        first_remote=tuple(first_remote), problems=problems,
                        duration=result.duration + time.perf_counter() - started)

    def poll(self, rows_ready: Callable[[PollResult], object] | None = None) -> PollResult:
        """Scan, diff and annotate, then run the alert rules and record history. `rows_ready`,
        when given, receives the new table first, before the alert rules and the history see
        it (the window shows its first rows without waiting for them; the result it gets has
        no alerts yet)."""
        started = time.perf_counter()
        snapshot = self._scan()
        if self._previous is not None and getattr(self._annotator, "refresh_needed",
                                                  bool)():
            return self._finish(self._count_connections(
                self._reannotate(snapshot, started)), rows_ready)
        if self._previous is not None and snapshot.listeners is self._listeners:
            # The scanner hands back the very same tuple when nothing changed (the netlink
            # path does): skip the diff, the table is what it was.
            result = PollResult(snapshot, self._rows, (), (), (), first=False,
                                duration=time.perf_counter() - started,
                                problems=snapshot.problems)
            return self._finish(self._count_connections(result), rows_ready)
        previous = self._previous or {}
        changes: ListenerDiff = diff((r.listener for r in previous.values()), snapshot.listeners)
        # Re-annotate only what is new or changed; unchanged rows keep their annotation.
        fresh = {item.key: self._annotate(item) for item in (*changes.opened, *changes.changed)}
        rows = tuple(
            fresh.get(item.key) or previous.get(item.key) or self._annotate(item)
            for item in snapshot.listeners
        )
        opened = tuple(fresh[item.key] for item in changes.opened)
        closed = tuple(previous[item.key] for item in changes.closed)
        changed = tuple(fresh[item.key] for item in changes.changed)
        result = PollResult(
            snapshot=snapshot,
            rows=rows,
            opened=opened,
            closed=closed,
            changed=changed,
            first=self._previous is None,
            duration=time.perf_counter() - started,
            problems=snapshot.problems,
            owner_changes=owner_changes(opened, closed, changed, previous),
        )
        self._listeners = snapshot.listeners
        self._rows = rows
        self._previous = {row.key: row for row in rows}
        return self._finish(self._count_connections(result), rows_ready)

    def _host_view(self, result: PollResult) -> PollResult:
        """The result without other network namespaces' listeners: alerts and history are about
        the host's (a history row has no namespace, so a container's port 80 would read as the
        host's)."""
        rows, host_rows = self._host
        if result.rows is not rows:
            host_rows = tuple(row for row in result.rows if row.listener.netns is None)
            self._host = (result.rows, host_rows)
        if len(host_rows) == len(result.rows) and not any(
                row.listener.netns for row in (*result.opened, *result.closed, *result.changed)):
            return result

        def host(items: tuple[AnnotatedListener, ...]) -> tuple[AnnotatedListener, ...]:
            return tuple(row for row in items if row.listener.netns is None)

        return _replace(result, rows=host_rows, opened=host(result.opened),
                        closed=host(result.closed), changed=host(result.changed),
                        owner_changes=tuple(change for change in result.owner_changes
                                            if change.row.listener.netns is None))

    def _reannotate(self, snapshot: Snapshot, started: float) -> PollResult:
        """The annotator's facts changed (a new firewall ruleset): annotate every row again;
        rows whose annotation differs are `changed`, new and gone listeners as usual."""
        previous = self._previous or {}
        changes = diff((r.listener for r in previous.values()), snapshot.listeners)
        rows = tuple(self._annotate(item) for item in snapshot.listeners)
        fresh = {row.key: row for row in rows}
        new_keys = {item.key for item in changes.opened}
        opened = tuple(fresh[item.key] for item in changes.opened)
        closed = tuple(previous[item.key] for item in changes.closed)
        changed = tuple(row for row in rows
                        if row.key not in new_keys and previous.get(row.key) != row)
        result = PollResult(
            snapshot=snapshot, rows=rows, opened=opened, closed=closed, changed=changed,
            first=False, duration=time.perf_counter() - started, problems=snapshot.problems,
            owner_changes=owner_changes(opened, closed, changed, previous),
        )
        self._listeners = snapshot.listeners
        self._rows = rows
        self._previous = fresh
        return result

    def _finish(self, result: PollResult,
                rows_ready: Callable[[PollResult], object] | None = None) -> PollResult:
        """Run the alert rules and record history (neither may stop monitoring), both on the
        host's listeners; `rows_ready` gets the table before they run."""
        if rows_ready is not None:
            rows_ready(result)
        full, result = result, self._host_view(result)
        if self.alert_rules is not None:
            try:
                alerts = self.alert_rules.evaluate(result)
            except Exception:  # a bug in the rules must not stop monitoring
                log.exception("alert rules failed")
                alerts = ()
            result = _replace(result, alerts=alerts)
        if self.history is not None:
            try:
                self.history.record(result)
            except Exception as exc:
                log.warning("could not record history: %s", exc)
                result = _replace(result, problems=(*result.problems, f"history not saved: {exc}"))
            take = getattr(self.history, "take_notices", None)
            result = _replace(result, notices=tuple(take()) if take else (),
                              unrecorded=getattr(self.history, "unrecorded", 0))
        if result is full:
            return result
        return _replace(full, alerts=result.alerts, problems=result.problems,
                        notices=result.notices, unrecorded=result.unrecorded)


def _owner(listener: Listener) -> tuple | None:
    """What makes the owner the same program: pid, start, name, executable, command line."""
    proc = listener.process
    if proc is None:
        return None
    return proc.pid, proc.create_time, proc.name, proc.exe, proc.cmdline


def _socket(listener: Listener) -> tuple | None:
    if listener.inode is None:
        return None
    return listener.proto, listener.family, listener.address, listener.port, listener.inode


def owner_changes(opened: tuple[AnnotatedListener, ...], closed: tuple[AnnotatedListener, ...],
                  changed: tuple[AnnotatedListener, ...],
                  previous: dict[ListenerKey, AnnotatedListener]) -> tuple[OwnerChange, ...]:
    """Sockets that stayed while their owner changed: a changed row whose process is another
    program now (exec), and a closed row and an opened one of the same socket (its inode)."""
    found = [OwnerChange(row, previous[row.key]) for row in changed
             if _owner(row.listener) != _owner(previous[row.key].listener)]
    if opened and closed:
        gone = {_socket(row.listener): row for row in closed}
        gone.pop(None, None)
        for row in opened:
            before = gone.get(_socket(row.listener)) if gone else None
            if before is not None:
                found.append(OwnerChange(row, before))
    return tuple(found)


def paired(result: PollResult) -> set[int]:
    """ids of the closed and opened rows that are one socket changing owner (reported as
    one owner change rather than a close and an open)."""
    return {id(row) for change in result.owner_changes for row in change}


def _replace(result: PollResult, **changes) -> PollResult:
    return dataclasses.replace(result, **changes)
