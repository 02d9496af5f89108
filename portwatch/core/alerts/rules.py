"""Which new listeners become alerts: baseline, persistence, identity, ignore rules, coalescing.

`AlertRules.evaluate(result)` is called once per poll (Monitor.alert_rules) and returns the
alerts to show. The rules, in the order they apply:

1. The first poll of a run is the baseline. On the very first run ever, everything listening is
   learnt silently. On later runs, listeners whose identity was never seen before appeared while
   portwatch was not running: they are reported once, together, as "opened since last run".
   Another machine's first poll (the window's remote hosts) is its baseline the same way: learnt
   silently the first time that host is seen, else what is new since portwatch last saw it.
2. A listener that opens while portwatch watches must still be there `min_polls` polls later
   before it alerts, so short-lived sockets do not spam.
3. Identity survives PID changes (ListenerIdentity: program, proto, port, exposure): a service
   restart is not new. An identity alerts once; after that it is known.
4. UDP sockets in the ephemeral port range are clients waiting for replies (DNS lookups, media),
   not services: they do not alert unless `ephemeral_udp` is set.
5. Acknowledged identities and ignore rules (both in AlertMemory, so they survive restarts)
   never alert. The user adds and removes them through the methods under "the user's
   decisions", which the GUI calls in the thread that owns the memory.
6. `coalesce` or more alertable listeners in one poll become one summary alert; alerts for a
   program that alerted less than `rate_limit` seconds ago are held and then folded into one
   summary when the window has passed.
7. With `first_remote` (off by default), a listener's first connection from another machine
   (`PollResult.first_remote`) alerts once per identity and run, unless it is silenced.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from portwatch.core.alerts.decisions import Decisions
from portwatch.core.alerts.memory import AlertMemory
from portwatch.core.fields.connection_text import peer_text
from portwatch.core.model import (
    Alert,
    AlertKind,
    AnnotatedListener,
    IgnoreRule,
    ListenerIdentity,
    ListenerKey,
    Proto,
    Risk,
)
from portwatch.core.probe import ephemeral_port_range
from portwatch.core.text import visible

if TYPE_CHECKING:
    from portwatch.core.monitor import PollResult

SUMMARY_LINES = 6  # listeners named in a summary body before "and N more"
MORE_LINES = 6  # alert titles named in the "N more alerts" body


def worst_first(alert: Alert) -> tuple[int, float]:
    """Sort key for showing alerts: the highest risk first, then the newest first."""
    return (-alert.risk.rank, -alert.created_at)


@dataclass
class _Pending:
    row: AnnotatedListener
    polls_seen: int  # polls since it opened (0 in the poll that saw it open)


def identity(row: AnnotatedListener) -> ListenerIdentity:
    return ListenerIdentity.of(row.listener)


def _row_of(item: _Pending | AnnotatedListener) -> AnnotatedListener:
    return item.row if isinstance(item, _Pending) else item


def risk_of(row: AnnotatedListener) -> Risk:
    return row.assessment.risk if row.assessment else Risk.NONE


def _new_host(rows: list[AnnotatedListener], known: set[ListenerIdentity]) -> bool:
    """True when `rows` are another machine's that no known identity is from (its first
    baseline ever: learnt silently, as this machine's first run)."""
    hosts = {row.listener.host for row in rows}
    if not rows or None in hosts:
        return False
    prefixes = tuple(f"{host}:" for host in hosts)
    return not any(item.program.startswith(prefixes) for item in known)


def on_host(sock) -> str:
    """" on HOST" for another machine's listener (the window's remote hosts), else ""."""
    return f" on {visible(sock.host, 80)}" if sock.host is not None else ""


def describe(row: AnnotatedListener) -> str:
    """One plain-text line: who listens where (and on which other machine), how exposed, what
    the port is, the risk."""
    sock = row.listener
    proc = sock.process
    who = f"{visible(proc.name, 60)} (pid {proc.pid})" if proc else "a hidden process"
    who += on_host(sock)
    service = ""
    if row.entry is not None:
        service = f", {row.entry.service}" if row.entry.service else ", not registered with IANA"
    risk = risk_of(row)
    reason = f" ({row.assessment.reason})" if row.assessment and risk is not Risk.NONE else ""
    verdict = "no known risk" if risk is Risk.NONE else f"risk {risk.value}"
    return (
        f"{who} on {sock.proto.value} {sock.endpoint} — {sock.exposure.label}{service};"
        f" {verdict}{reason}"
    )


class AlertRules:
    """Stateful alert rules for one run (the memory persists across runs)."""

    def __init__(
        self,
        memory: AlertMemory,
        *,
        min_polls: int = 1,
        ephemeral_udp: bool = False,
        coalesce: int = 5,
        rate_limit: float = 60.0,
        first_remote: bool = False,
        clock: Callable[[], float] = time.time,
        ephemeral_range: tuple[int, int] | None = None,
    ) -> None:
        self.memory = memory
        self.min_polls = max(0, min_polls)
        self.ephemeral_udp = ephemeral_udp
        self.coalesce = max(2, coalesce)
        self.rate_limit = max(0.0, rate_limit)
        self.first_remote = first_remote
        self._remote_alerted: set[ListenerIdentity] = set()
        self._clock = clock
        self._ephemeral = ephemeral_range or ephemeral_port_range()
        self._pending: dict[ListenerKey, _Pending] = {}
        self._last_alert_at: dict[str, float] = {}  # program -> time of its last alert
        self._held: dict[ListenerKey, AnnotatedListener] = {}  # rate-limited, shown later

    SETTINGS = ("min_polls", "ephemeral_udp", "coalesce", "rate_limit", "first_remote")

    def sibling(self, previous: AlertRules | None = None) -> AlertRules:
        """Rules for another machine's polls (the window's remote hosts): this memory and these
        settings, with their own pending, held and rate-limit state (`previous`, kept when it
        shares the memory), since one poll's rows are one machine's."""
        rules = previous
        if rules is None or rules.memory is not self.memory:
            rules = AlertRules(self.memory, clock=self._clock, ephemeral_range=self._ephemeral)
        for name in self.SETTINGS:
            setattr(rules, name, getattr(self, name))
        return rules

    @classmethod
    def from_settings(cls, settings: object, memory: AlertMemory, **kwargs) -> AlertRules:
        return cls(
            memory,
            min_polls=getattr(settings, "alert_min_polls", 1),
            ephemeral_udp=getattr(settings, "alert_ephemeral_udp", False),
            coalesce=getattr(settings, "alert_coalesce", 5),
            rate_limit=getattr(settings, "alert_rate_limit", 60.0),
            first_remote=getattr(settings, "alert_first_remote", False),
            **kwargs,
        )

    # -- the user's decisions ------------------------------------------------------------------

    def acknowledge(self, row: AnnotatedListener) -> None:
        """Never alert for this listener's identity again (survives restarts)."""
        self.memory.acknowledge(identity(row))
        self._pending.pop(row.key, None)
        self._held.pop(row.key, None)

    def unacknowledge(self, listener_identity: ListenerIdentity) -> None:
        """Alert again the next time this identity starts listening (survives restarts)."""
        self.memory.unacknowledge(listener_identity)

    def add_ignore_rule(self, rule: IgnoreRule) -> None:
        """Never alert for listeners the rule matches, from now on; those waiting to alert
        (not yet persistent, or held by the rate limit) are dropped too."""
        self.memory.add_ignore_rule(rule)
        for waiting in (self._pending, self._held):
            for key in [key for key, item in waiting.items()
                        if rule.matches(_row_of(item).listener)]:
                del waiting[key]

    def remove_ignore_rule(self, rule: IgnoreRule) -> None:
        """New listeners the rule matched alert again."""
        self.memory.remove_ignore_rule(rule)

    def decisions(self) -> Decisions:
        """The ignore rules and acknowledged identities, as values for the GUI."""
        acked = sorted(self.memory.acknowledged(),
                       key=lambda item: (item.program, item.port, item.proto, item.exposure.rank))
        return Decisions(tuple(self.memory.ignore_rules()), tuple(acked))

    # -- the rules -----------------------------------------------------------------------------

    def silenced(self, row: AnnotatedListener) -> bool:
        """True when this listener never alerts (acknowledged, ignored, ephemeral UDP)."""
        sock = row.listener
        if (
            not self.ephemeral_udp
            and sock.proto is Proto.UDP
            and self._ephemeral[0] <= sock.port <= self._ephemeral[1]
        ):
            return True
        if identity(row) in self.memory.acknowledged():
            return True
        return any(rule.matches(sock) for rule in self.memory.ignore_rules())

    def evaluate(self, result: PollResult) -> tuple[Alert, ...]:
        if result.first:
            return self._baseline(result.rows)
        remote = self._first_remote(result.first_remote) if result.first_remote else ()
        if not (result.opened or self._pending or self._held):
            return remote  # a quiet poll: nothing can be due (the common case, kept cheap)
        return remote + self._opened(result)

    def _first_remote(self, rows: Iterable[AnnotatedListener]) -> tuple[Alert, ...]:
        """"First connection from the network to redis on 6379", once per identity and run."""
        if not self.first_remote:
            return ()
        alerts = []
        for row in rows:
            ident = identity(row)
            if ident in self._remote_alerted or self.silenced(row):
                continue
            self._remote_alerted.add(ident)
            sock = row.listener
            who = visible(sock.process.name, 40) if sock.process else "a hidden process"
            peer = row.connections.remote_peer if row.connections else None
            title = f"First connection from the network to {who} on {sock.port}" + (
                f" of {visible(sock.host, 80)}" if sock.host is not None else "") + (
                f", from {visible(peer.address, 60)}" if peer is not None else "")
            alert = self._make(AlertKind.FIRST_REMOTE, [row], title)
            if peer is not None:
                alert = dataclasses.replace(alert, body=f"from {peer_text(peer)}\n{alert.body}")
            alerts.append(alert)
        return tuple(alerts)

    def _opened(self, result: PollResult) -> tuple[Alert, ...]:
        """The alerts for new listeners (rules 2 to 6)."""
        now = self._clock()
        current = result.row_map
        opened = {row.key for row in result.opened}
        for key, pending in list(self._pending.items()):
            if key not in current:  # closed before it persisted: forget it quietly
                del self._pending[key]
            elif key not in opened:
                pending.polls_seen += 1
        for row in result.opened:
            self._pending[row.key] = _Pending(row, 0)
        known = self.memory.known_identities()
        due: list[AnnotatedListener] = []
        for key, pending in list(self._pending.items()):
            if pending.polls_seen < self.min_polls:
                continue
            del self._pending[key]
            row = current[key]
            if identity(row) in known or self.silenced(row):
                continue
            known.add(identity(row))
            due.append(row)
        if due:
            self.memory.remember(identity(row) for row in due)
        return self._rate_limited(due, current, now)

    def _baseline(self, rows: Iterable[AnnotatedListener]) -> tuple[Alert, ...]:
        rows = list(rows)
        known = self.memory.known_identities()
        first_run_ever = not self.memory.has_baseline() or _new_host(rows, known)
        unseen = [row for row in rows if identity(row) not in known and not self.silenced(row)]
        self.memory.remember(identity(row) for row in rows)
        if first_run_ever or not unseen:
            return ()
        away = ("while portwatch was not running" if unseen[0].listener.host is None
                else "while portwatch could not see that host")
        title = (
            f"Opened {away}: {describe_port(unseen[0])}" if len(unseen) == 1
            else f"{len(unseen)} listeners opened{on_host(unseen[0].listener)} {away}"
        )
        return (self._make(AlertKind.OPENED_SINCE_LAST_RUN, unseen, title),)

    def _rate_limited(
        self, due: list[AnnotatedListener], current: dict, now: float
    ) -> tuple[Alert, ...]:
        # Release held listeners whose program's window has passed (if they still listen).
        ready = [row for row in self._held.values() if not self._too_soon(row, now)]
        for row in ready:
            del self._held[row.key]
        ready = [current[row.key] for row in ready if row.key in current]
        fresh: list[AnnotatedListener] = []
        for row in due:
            if self._too_soon(row, now):
                self._held[row.key] = row
            else:
                fresh.append(row)
        batch = fresh + ready
        if not batch:
            return ()
        for row in batch:
            self._last_alert_at[identity(row).program] = now
        if len(batch) >= self.coalesce or ready:
            if len(batch) == 1:
                title = f"New listener: {describe_port(batch[0])}"
                return (self._make(AlertKind.OPENED, batch, title),)
            return (self._make(AlertKind.SUMMARY, batch, f"{len(batch)} new listeners"),)
        return tuple(
            self._make(AlertKind.OPENED, [row], f"New listener: {describe_port(row)}")
            for row in batch
        )

    def _too_soon(self, row: AnnotatedListener, now: float) -> bool:
        """True when this listener's program alerted less than rate_limit seconds ago."""
        last = self._last_alert_at.get(identity(row).program)
        return last is not None and now - last < self.rate_limit

    def _make(self, kind: AlertKind, rows: list[AnnotatedListener], title: str) -> Alert:
        rows = sorted(rows, key=lambda r: (-risk_of(r).rank, r.listener.port))
        lines = [describe(row) for row in rows[:SUMMARY_LINES]]
        if len(rows) > SUMMARY_LINES:
            lines.append(f"… and {len(rows) - SUMMARY_LINES} more")
        risk = max((risk_of(row) for row in rows), key=lambda r: r.rank)
        return Alert(kind, tuple(rows), risk, self._clock(), title, "\n".join(lines))


def describe_port(row: AnnotatedListener) -> str:
    """"port 8000/tcp (python3)" for titles; "port 22/tcp on web1 (sshd)" for another
    machine's."""
    sock = row.listener
    who = f" ({visible(sock.process.name, 40)})" if sock.process else ""
    return f"port {sock.port}/{sock.proto.value}{on_host(sock)}{who}"


def more_alerts(alerts: list[Alert], now: float,
                footer: str | None = "Every alert is listed in the portwatch window.") -> Alert:
    """One alert standing for several that came too fast to notify one by one."""
    ordered = sorted(alerts, key=worst_first)
    lines = [alert.title for alert in ordered[:MORE_LINES]]
    if len(ordered) > MORE_LINES:
        lines.append(f"… and {len(ordered) - MORE_LINES} more")
    if footer:
        lines.append(footer)
    rows = tuple(row for alert in ordered for row in alert.listeners)
    return Alert(AlertKind.SUMMARY, rows, ordered[0].risk, now,
                 f"{len(alerts)} more new-listener alerts", "\n".join(lines))
