"""What one declaration of a listener field says, and the parts of a row a field depends on.

A `Field` names a fact about a listener once: how it is read from an `AnnotatedListener` (its
JSON value), its label and header tooltip, its table cell text, sort value and cell tooltip,
what the filter searches, its command-line column, its details-pane fact, how the history
stores it, whether the log outputs carry it and whether it labels the Prometheus info series.
Every surface (JSON, CSV, the table, the filter, the details pane, `list`, `history`, `watch`
lines, history rows, journal fields, syslog structured data, metric labels) is generated from
the declarations in `listener.py`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from portwatch.core.model import AnnotatedListener, Listener

Read = Callable[[AnnotatedListener], Any]
Record = dict[str, Any]


class Stored(enum.Enum):
    """How the history database keeps a field."""

    COLUMN = "column"  # its own column of the events table (the listener's identity and state)
    RECORDED = "recorded"  # its own column: the catalog's answer when the event happened
    PROCESS = "process"  # a key of the event's `process` JSON object: a new one needs no migration
    NOT_STORED = "not stored"  # facts about the port, not the event: `portwatch lookup` has them


class Part(enum.Enum):
    """The part of a row a field's cell depends on: when that part changes, the cell does."""

    FIXED = "fixed"  # the row's key: never changes for a row
    EXPOSURE = "exposure"
    PROCESS = "process"  # the owning process, or why it is hidden
    ENTRY = "entry"  # the catalog entry of the port
    LIKELY = "likely"  # which known uses match the listening program
    ASSESSMENT = "assessment"  # the risk
    FIREWALL = "firewall"  # the host firewall's verdict
    ORIGIN = "origin"  # the systemd unit or container that started it
    CONNECTIONS = "connections"  # who is connected now


def changed_parts(old: AnnotatedListener, new: AnnotatedListener) -> set[Part]:
    """The parts that differ between two versions of one row."""
    parts: set[Part] = set()
    if old.assessment != new.assessment:
        parts.add(Part.ASSESSMENT)
    if old.listener.exposure != new.listener.exposure:
        parts.add(Part.EXPOSURE)
    old_sock, new_sock = old.listener, new.listener
    if old_sock.process != new_sock.process or old_sock.hidden_reason != new_sock.hidden_reason \
            or old_sock.holders != new_sock.holders or old_sock.socket_user != new_sock.socket_user:
        parts.add(Part.PROCESS)
    if old.entry is not new.entry and old.entry != new.entry:
        parts.add(Part.ENTRY)
    if old.firewall != new.firewall:
        parts.add(Part.FIREWALL)
    if (old_sock.unit, old_sock.container) != (new_sock.unit, new_sock.container):
        parts.add(Part.ORIGIN)
    if old.connections != new.connections:
        parts.add(Part.CONNECTIONS)
    if old.likely_uses != new.likely_uses:  # another program now (same PID after exec)
        parts.add(Part.LIKELY)
    return parts


@dataclass(frozen=True, slots=True)
class Field:
    """One fact about a listener, declared once.

    `key` is the JSON key and the CSV column. Everything after `read` is optional: a field
    without `text` is not a table column, without `cli` not a command-line column, without
    `fact` not in the details pane, without `search` not searched by the filter."""

    key: str
    label: str  # the table header, and the details fact unless `fact_label` says otherwise
    read: Read  # the JSON value (None when unknown)
    json: bool = True  # in `list --json`, `watch --json`, history records and CSV
    owner: bool = False  # who owned the socket: in a `changed` event's "previous" object
    csv_text: Callable[[Any], str] | None = None  # a list or object as one readable CSV cell
    tip: str | None = None  # the table header's tooltip
    # the table
    column: str | None = None  # the table column's name (Column.X) when not the key's
    text: Callable[[AnnotatedListener], str] | None = None
    sort: Callable[[AnnotatedListener], Any] | None = None  # a native value Qt compares
    cell_tip: Callable[[AnnotatedListener], Iterable[str]] | None = None  # plain-text lines
    width: int = 100  # the column's initial width in pixels
    right: bool = False  # numbers read best right-aligned (table and command line)
    depends: frozenset[Part] = frozenset({Part.FIXED})
    # the filter: the texts it searches in
    search: Callable[[AnnotatedListener], Iterable[str]] | None = None
    # the command line: a column of `list` (and of `history` when `in_history`), from a record
    cli: str | None = None
    cli_text: Callable[[Record], str] | None = None
    in_history: bool = True
    on_request: bool = False  # a `list` column only when asked for (NETNS with --all-netns)
    cli_elide: bool = False  # text that may be cut (widest first) to fit the terminal's width
    # a `watch` line's part, from a record (None: left out of that line)
    line: Callable[[Record], str | None] | None = None
    # the details pane, from a listener whose owner is known (None: left out)
    fact: Callable[[Listener], str | None] | None = None
    fact_label: str | None = None
    mono: bool = False  # a path or command line: shown in a fixed-width font
    warn: bool = False  # a fact to look at twice: shown in the warning colour
    # `watch --journal` (a PORTWATCH_<KEY> field) and `watch --syslog` (a structured-data
    # parameter): a JSON field whose value reads as text; lists of objects are declared False
    log: bool = True
    # `portwatch_listener_info`: this field's value as one of its labels (None: not a label).
    # Every label multiplies the series, so a field is a label only when declared one.
    metric: Callable[[AnnotatedListener], str] | None = None
    # the history database
    stored: Stored = Stored.COLUMN
    attr: str | None = None  # the ProcessInfo attribute a Stored.PROCESS field rebuilds
    load: Callable[[Any], Any] = lambda value: value  # stored JSON value -> attribute value
