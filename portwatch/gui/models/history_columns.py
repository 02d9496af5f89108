"""The History tab's columns and cells, generated from the field declarations.

The columns are the time (local), the event, then `fields.HISTORY` (the `history` command's
columns) in field order; each field's header, header tooltip, cell text, cell tooltip, width
and alignment are its declaration's, as in the listener table. A recorded event becomes an
`AnnotatedListener` with the catalog's answer recorded then (service, description, risk and
why), so the fields read it as they read a live row. Sorting is in SQL, on each field's stored
value (`stored_sql`), read in SQL and ordered: empty first, numbers, then text without regard
to case (`sortable`).
"""

from __future__ import annotations

import enum
import time
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from portwatch.core import fields
from portwatch.core.fields.connection_text import event_text
from portwatch.core.model import AnnotatedListener, Assessment, CatalogEntry, Risk
from portwatch.core.store.history import CLOSED, OPENED, HistoryEvent
from portwatch.core.store.history_events import stored_sql
from portwatch.core.text import visible
from portwatch.gui.style.plain import plain_tooltip

OPENED_COLOR = (46, 160, 67)
CLOSED_COLOR = (218, 54, 51)

Column = enum.IntEnum("Column", [("TIME", 0), ("EVENT", 1)] + [
    (field.column or field.key.upper(), number + 2)
    for number, field in enumerate(fields.HISTORY)])
COLUMN_COUNT = len(Column)
_FIELDS = (None, None, *fields.HISTORY)
TITLES = ("Time (local)", "Event", *(field.label for field in fields.HISTORY))
HEADER_TIPS = ("When the event was recorded, in this computer's time zone",
               "opened, closed, present (listening when a run started), changed (another"
               " owner) or first-remote (its first connection from another machine)",
               *(field.tip for field in fields.HISTORY))
WIDTH_SAMPLES = {Column.TIME: "2026-11-23 20:04:05", Column.EVENT: "present"}
SORT_SQL = {Column.TIME: "events.id", Column.EVENT: "events.event",
            **{Column(number + 2): _sql for number, field in enumerate(fields.HISTORY)
               if (_sql := stored_sql(field)) is not None}}
EVENT_ROLE = int(Qt.ItemDataRole.UserRole) + 2  # the whole HistoryEvent

_DISPLAY = int(Qt.ItemDataRole.DisplayRole)
_TOOLTIP = int(Qt.ItemDataRole.ToolTipRole)
_FOREGROUND = int(Qt.ItemDataRole.ForegroundRole)
_ALIGNMENT = int(Qt.ItemDataRole.TextAlignmentRole)
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
_RIGHT_COLUMNS = frozenset(number for number, field in enumerate(_FIELDS)
                           if field is not None and field.right)
_KIND_COLORS = {OPENED: QColor(*OPENED_COLOR), CLOSED: QColor(*CLOSED_COLOR)}
_RISKS = {risk.value: risk for risk in Risk}


def _title(column: Any) -> str:
    return TITLES[int(column)]


Column.title = property(_title)  # type: ignore[attr-defined]


def local_time(when: float) -> str:
    """2026-11-23 20:04:05 in the computer's time zone, as the plot's date axis shows it."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(when))


def header_data(section: int, role: int) -> Any:
    if not 0 <= section < COLUMN_COUNT:
        return None
    if role == _DISPLAY:
        return TITLES[section]
    if role == _TOOLTIP:
        return HEADER_TIPS[section]
    return None


def as_listener(item: HistoryEvent) -> AnnotatedListener:
    """The event's listener with the catalog's answer recorded then, as the fields read it."""
    sock = item.listener
    entry = (CatalogEntry(sock.port, sock.proto, item.service, item.description)
             if item.service is not None or item.description is not None else None)
    risk = _RISKS.get(item.risk or "")
    assessment = Assessment(risk, item.risk_reason or "") if risk is not None else None
    return AnnotatedListener(sock, entry, assessment)


def describe_event(item: HistoryEvent) -> str:
    """Plain-text description of one event, for the hover label and tooltips."""
    sock = item.listener
    proc = sock.process
    who = f"{visible(proc.name, 60)} (pid {proc.pid})" if proc else "hidden owner"
    service = f", {visible(item.service, 40)}" if item.service else ""
    risk = f", risk {item.risk}" if item.risk else ""
    host = f"  on {visible(sock.host, 60)}" if sock.host is not None else ""
    return (f"{local_time(item.time)}  {event_text(item.event, item.peer)}  {sock.proto.value}"
            f" {sock.endpoint}  {who}"
            f"  {sock.exposure.label}{service}{risk}{host}")


class Row:
    """One event's cells, made when its page is read."""

    __slots__ = ("cells", "event", "listener")

    def __init__(self, event: HistoryEvent) -> None:
        self.event = event
        self.listener = as_listener(event)
        self.cells = (local_time(event.time), event_text(event.event, event.peer),
                      *(_text(field, self.listener) for field in fields.HISTORY))

    def data(self, column: int, role: int) -> Any:
        if role == _DISPLAY:
            return self.cells[column]
        if role == _TOOLTIP:
            if column == Column.EVENT and self.event.peer is not None:
                return plain_tooltip(self.cells[column])  # the whole peer, however narrow
            field = _FIELDS[column]
            if field is None or field.cell_tip is None:
                return None
            lines = list(field.cell_tip(self.listener))
            return plain_tooltip("\n".join(lines)) if lines else None
        if role == _FOREGROUND and column == Column.EVENT:
            return _KIND_COLORS.get(self.event.event)
        if role == _ALIGNMENT and column in _RIGHT_COLUMNS:
            return _RIGHT
        return None


def _text(field: fields.Field, item: AnnotatedListener) -> str:
    return field.text(item) if field.text is not None else visible(str(field.read(item) or ""))


def row_of_event(item: HistoryEvent) -> Row:
    return Row(item)


def sortable(value: Any) -> tuple:
    """A stored value as the table orders it: empty first, numbers, then text (any case)."""
    if value is None:
        return (0, 0)
    if isinstance(value, int | float):
        return (1, value)
    return (2, str(value).casefold())


def descending_place(keys: list[tuple], key: tuple) -> int:
    """Where `key` goes in `keys`, sorted from the greatest: after every greater key."""
    low, high = 0, len(keys)
    while low < high:
        middle = (low + high) // 2
        if keys[middle] > key:
            low = middle + 1
        else:
            high = middle
    return low
