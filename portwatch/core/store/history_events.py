"""History events as values, and their rows in the history database.

`HistoryEvent` is one recorded event (a listener opened, closed, or was present when a run
started); `events_of(result)` turns one poll into events; `counts_from(events)` gives the
timeline's points. The rest converts between values and database rows, so that the store, the
migrations and the readers agree on one column order.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from portwatch.core import fields
from portwatch.core.fields import Stored
from portwatch.core.model import (
    PEER_SCOPE_WORDS,
    AnnotatedListener,
    Exposure,
    Family,
    IgnoreRule,
    Listener,
    ListenerIdentity,
    Peer,
    Proto,
)
from portwatch.core.text import encodable

if TYPE_CHECKING:
    from portwatch.core.monitor import PollResult

OPENED = "opened"
CLOSED = "closed"
PRESENT = "present"  # listening when a run started (the first poll's snapshot)
CHANGED = "changed"  # the socket stayed, its owner changed (exec, or another holder now)
# the listener's first connection from another machine since portwatch saw it open
FIRST_REMOTE = "first-remote"
EVENT_KINDS = (OPENED, CLOSED, PRESENT, CHANGED, FIRST_REMOTE)

# The events as read (id first): the event, the listener's own columns (fields stored as
# Stored.COLUMN), `owner` (a JSON object of the fields stored as Stored.PROCESS), and the
# catalog's answer then (Stored.RECORDED). Since version 4 a row keeps the last two in the
# `details` row it refers to (history_details.py); rows of version 3 keep them inline, and
# reading takes whichever is there.
_EVENT = ("id", "run_id", "time", "event", "listeners")
_OWN_COLUMNS = tuple(f.key for f in fields.FIELDS if f.stored is Stored.COLUMN)
LISTENER_COLUMNS = (*_OWN_COLUMNS, "owner")
RECORDED_COLUMNS = tuple(f.key for f in fields.FIELDS if f.stored is Stored.RECORDED)
EVENT_COLUMNS = (*_EVENT, *LISTENER_COLUMNS, *RECORDED_COLUMNS)
TABLE_COLUMNS = (*EVENT_COLUMNS, "detail")  # the events table of version 4
_LISTENER_AT = slice(len(_EVENT), len(_EVENT) + len(LISTENER_COLUMNS))
_RECORDED_AT = slice(_LISTENER_AT.stop, None)
_COLUMN_READERS = tuple(f.read for f in fields.FIELDS if f.stored is Stored.COLUMN)
# Listener facts kept in the `owner` JSON object beside the process's, only when set (the host)
_IN_OWNER = tuple((f.key, f.read) for f in fields.FIELDS if f.stored is Stored.LISTENER)
_DETAIL_COLUMNS = ("owner", *RECORDED_COLUMNS)


def column_sql(name: str) -> str:
    """The SQL expression of one of EVENT_COLUMNS in SELECT_EVENTS."""
    if name in _DETAIL_COLUMNS:
        return f"coalesce(events.{name}, details.{name})"
    return f"events.{name}"


def stored_sql(field: fields.Field) -> str | None:
    """The SQL expression of a field's stored value (None when it is not stored): its column,
    or its key of the owner's JSON object."""
    if field.stored in (Stored.PROCESS, Stored.LISTENER):
        return f"json_extract({column_sql('owner')}, '$.{field.key}')"
    if field.stored in (Stored.COLUMN, Stored.RECORDED):
        return column_sql(field.key)
    return None


FROM_EVENTS = "FROM events LEFT JOIN details ON details.id = events.detail"
SELECT_EVENTS = (f"SELECT {', '.join(column_sql(name) for name in EVENT_COLUMNS)}"
                 f" {FROM_EVENTS}")
_WRITTEN = ("run_id", "time", "event", "listeners", *_OWN_COLUMNS, "detail")
INSERT_EVENT = (
    f"INSERT INTO events ({', '.join(_WRITTEN)})"  # noqa: S608 (constants)
    f" VALUES ({', '.join('?' * len(_WRITTEN))})"
)


@dataclass(frozen=True, slots=True)
class HistoryEvent:
    """One recorded event: a listener opened, closed, was present when a run started, or
    changed owner (the new owner is recorded; the previous one is the socket's event before).

    `listeners` is how many listeners there were right after this event (the timeline's value).
    The catalog facts are the ones known when the event was recorded (service, description,
    risk); the port's uses and security notes are not stored (`portwatch lookup` has them).
    """

    time: float  # seconds since the epoch (UTC)
    event: str  # OPENED | CLOSED | PRESENT | CHANGED | FIRST_REMOTE
    listener: Listener
    listeners: int | None  # None: written for another machine (the timeline counts this one)
    service: str | None = None
    description: str | None = None
    risk: str | None = None
    risk_reason: str | None = None
    id: int | None = None  # the row id once stored (increases with every event, never reused)
    run_id: int | None = None
    # FIRST_REMOTE: the other machine that connected (kept in the owner's JSON object)
    peer: Peer | None = None

    @classmethod
    def of(cls, event: str, when: float, row: AnnotatedListener, listeners: int) -> HistoryEvent:
        entry, assessment = row.entry, row.assessment
        return cls(
            time=when,
            event=event,
            listener=row.listener,
            listeners=listeners,
            service=entry.service if entry else None,
            description=entry.description if entry else None,
            risk=assessment.risk.value if assessment else None,
            risk_reason=assessment.reason if assessment else None,
            peer=row.connections.remote_peer if event == FIRST_REMOTE and row.connections
            else None,
        )

    @property
    def process_name(self) -> str | None:
        proc = self.listener.process
        return proc.name if proc else None

    @property
    def iso_time(self) -> str:
        return iso_utc(self.time)


def _peer_from(stored: dict[str, Any]) -> Peer | None:
    value = stored.get("peer")
    if not isinstance(value, dict):
        return None
    address, port, scope = value.get("address"), value.get("port"), value.get("scope")
    if not isinstance(address, str) or not isinstance(port, int) \
            or scope not in PEER_SCOPE_WORDS:
        return None
    return Peer(address, port, scope)


def iso_utc(when: float) -> str:
    """2026-11-23T19:04:05Z (whole seconds, UTC)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))


def events_of(result: PollResult) -> list[HistoryEvent]:
    """The events one poll makes: a snapshot of `present` listeners on the first poll of a run,
    then `closed` and `opened` ones, each with the listener count right after it, and a
    `changed` one (with the new owner) for each socket whose owner changed."""
    from portwatch.core.monitor import paired

    when = result.snapshot.taken_at
    if result.first:
        total = len(result.rows)
        return [HistoryEvent.of(PRESENT, when, row, total) for row in result.rows]
    skip = paired(result)
    closed = [row for row in result.closed if id(row) not in skip]
    opened = [row for row in result.opened if id(row) not in skip]
    count = len(result.rows) - len(opened) + len(closed)
    events = []
    for row in closed:
        count -= 1
        events.append(HistoryEvent.of(CLOSED, when, row, count))
    for row in opened:
        count += 1
        events.append(HistoryEvent.of(OPENED, when, row, count))
    events.extend(HistoryEvent.of(CHANGED, when, change.row, count)
                  for change in result.owner_changes)
    events.extend(HistoryEvent.of(FIRST_REMOTE, when, row, count)
                  for row in result.first_remote)
    return events


def counts_from(events: Iterable[HistoryEvent]) -> list[tuple[float, int]]:
    """(time, listener count) after each event, oldest first; a run's snapshot (many `present`
    events at one time) is one point. The count is this machine's: another machine's events
    (the window's remote hosts) are left out."""
    points: list[tuple[float, int]] = []
    last: tuple[str, float, int | None] | None = None
    for item in events:
        if item.listener.host is not None:
            continue
        here = (item.event, item.time, item.run_id)
        if item.event == PRESENT and last == here:
            points[-1] = (item.time, item.listeners)
        else:
            points.append((item.time, item.listeners))
        last = here
    return points


# -- rows <-> values ---------------------------------------------------------------------------


def event_row(item: HistoryEvent, run_id: int | None) -> tuple[Any, ...]:
    """(run_id, time, event, listeners, *the listener's own columns) of an event; its
    `detail_values()` go to the details table."""
    sock = AnnotatedListener(item.listener)
    return (run_id, item.time, item.event, item.listeners,
            *(read(sock) for read in _COLUMN_READERS))


def detail_values(item: HistoryEvent) -> tuple[Any, ...]:
    """(owner JSON, *recorded catalog answer) of an event: its row of the details table. The
    owner JSON also holds the other machine the listener was read from, when it was."""
    proc = item.listener.process
    stored = fields.process_to_stored(proc) if proc is not None else {}
    sock = AnnotatedListener(item.listener)
    for key, read in _IN_OWNER:
        value = read(sock)
        if value is not None:
            stored[key] = encodable(value)
    if item.peer is not None:
        stored["peer"] = {"address": encodable(item.peer.address), "port": item.peer.port,
                          "scope": item.peer.scope}
    owner = json.dumps(stored) if stored else None
    return (owner, *(getattr(item, name) for name in RECORDED_COLUMNS))


_PROTOS = {item.value: item for item in Proto}
_FAMILIES = {item.value: item for item in Family}
_EXPOSURES = {item.value: item for item in Exposure}


def _owner_object(owner: str | None) -> dict[str, Any]:
    try:
        stored = json.loads(owner) if owner else {}
    except ValueError:
        stored = {}
    return stored if isinstance(stored, dict) else {}


def _listener_from_columns(columns: tuple[Any, ...]) -> Listener:
    """A Listener from the LISTENER_COLUMNS of an events row."""
    (proto, family, address, port, exposure, pid, owner_hidden, hidden_reason, owner) = columns
    info = None
    stored = _owner_object(owner)
    if pid is not None:
        info = fields.process_from_stored(pid, stored)
    host = stored.get("host")
    return Listener(_PROTOS[proto], _FAMILIES[family], address, port, _EXPOSURES[exposure],
                    info, owner_hidden=bool(owner_hidden), hidden_reason=hidden_reason,
                    host=host if isinstance(host, str) else None)


def event_from_row(row: tuple[Any, ...],
                   listeners: dict[tuple[Any, ...], Listener] | None = None) -> HistoryEvent:
    """A HistoryEvent from an events row; `listeners` caches Listener values between rows
    (a month of events names the same few hundred listeners over and over)."""
    (event_id, run_id, when, kind, count) = row[:len(_EVENT)]
    columns = row[_LISTENER_AT]
    listener = listeners.get(columns) if listeners is not None else None
    if listener is None:
        listener = _listener_from_columns(columns)
        if listeners is not None:
            listeners[columns] = listener
    recorded = dict(zip(RECORDED_COLUMNS, row[_RECORDED_AT], strict=True))
    peer = _peer_from(_owner_object(columns[-1])) if kind == FIRST_REMOTE else None
    return HistoryEvent(when, kind, listener, count or 0, **recorded, id=event_id,
                        run_id=run_id, peer=peer)


def _text(value: str | None) -> str | None:
    return encodable(value) if value is not None else None


def identity_row(identity: ListenerIdentity) -> tuple[str, str, int, str]:
    return (encodable(identity.program), identity.proto.value, identity.port,
            identity.exposure.value)


def identity_from_row(row: tuple[Any, ...]) -> ListenerIdentity:
    program, proto, port, exposure = row[:4]
    return ListenerIdentity(program, Proto(proto), port, Exposure(exposure))


def rule_from_row(row: tuple[Any, ...]) -> IgnoreRule:
    process, port_from, port_to, proto = row
    return IgnoreRule(process, port_from, port_to, Proto(proto) if proto else None)


def rule_row(rule: IgnoreRule) -> tuple[Any, ...]:
    return (_text(rule.process), rule.port_from, rule.port_to,
            rule.proto.value if rule.proto else None)
