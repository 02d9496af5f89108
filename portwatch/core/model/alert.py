"""What portwatch tells the user: alerts, the PID-free identity they remember, ignore rules."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import NamedTuple

from portwatch.core.model.annotated import AnnotatedListener
from portwatch.core.model.listener import Exposure, Listener, Proto, Risk
from portwatch.core.text import encodable


class AlertKind(enum.StrEnum):
    OPENED = "opened"  # appeared while portwatch was watching
    OPENED_SINCE_LAST_RUN = "opened-since-last-run"  # appeared while portwatch was not running
    SUMMARY = "summary"  # many listeners at once, coalesced
    FIRST_REMOTE = "first-remote"  # a first connection from another machine (opt-in)


@dataclass(frozen=True, slots=True)
class Alert:
    """One thing to tell the user about: newly opened listener(s)."""

    kind: AlertKind
    listeners: tuple[AnnotatedListener, ...]
    risk: Risk
    created_at: float
    title: str
    body: str  # plain text; notification backends escape it for their markup
    extra: dict[str, object] = field(default_factory=dict, compare=False, hash=False)


class ListenerIdentity(NamedTuple):
    """Who is listening where, independent of PID: survives a service restart.

    `program` is the executable path when known, else the process name, else "" (hidden owner);
    on another machine (the window's remote hosts) it is written `HOST:program`, as scp names a
    file there, so the same program on two machines is two identities (the alert memory keeps
    it in its `program` column: no new column).
    """

    program: str
    proto: Proto
    port: int
    exposure: Exposure

    @classmethod
    def of(cls, listener: Listener) -> ListenerIdentity:
        proc = listener.process
        program = (proc.exe or proc.name) if proc else ""
        if listener.host is not None:
            program = f"{listener.host}:{program}"
        # As the history stores it (bytes that were not UTF-8 as \xNN escapes), so the same
        # program is the same identity before and after a restart.
        return cls(encodable(program), listener.proto, listener.port, listener.exposure)


@dataclass(frozen=True, slots=True)
class IgnoreRule:
    """The user's "never alert for this": a process name, a port range, or both (all must match)."""

    process: str | None = None  # process name or executable path; None = any
    port_from: int | None = None
    port_to: int | None = None  # inclusive; equal to port_from for one port
    proto: Proto | None = None  # None = both

    def __post_init__(self) -> None:
        # As the history stores it (bytes that were not UTF-8 as \xNN escapes), so a rule
        # is the same rule, and matches the same program, before and after a restart.
        if self.process is not None:
            object.__setattr__(self, "process", encodable(self.process))

    def matches(self, listener: Listener) -> bool:
        proc = listener.process
        if self.process is not None and (proc is None or self.process not in (
                encodable(proc.name), encodable(proc.exe) if proc.exe else None)):
            return False
        if self.port_from is not None:
            high = self.port_to if self.port_to is not None else self.port_from
            if not self.port_from <= listener.port <= high:
                return False
        return self.proto is None or self.proto is listener.proto
