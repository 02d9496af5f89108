"""A listener's fields, declared once (`listener.FIELDS`), and what is generated from them.

`record()` is the JSON object of `list --json` (and every other record and CSV row),
`search_texts()` what the window's filter searches, `process_facts()` the details pane's
facts about the owner, `process_to_stored()` / `process_from_stored()` the history's
`process` JSON object. The table models, the command-line columns and `watch` lines read
`TABLE`, `HISTORY`, `FIELDS` and `WATCH_LINE` directly.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from portwatch.core.fields.field import Field, Part, Record, Stored, changed_parts
from portwatch.core.fields.listener import (
    BY_KEY,
    FIELDS,
    HISTORY,
    TABLE,
    WATCH_LINE,
    package_record,
)
from portwatch.core.fields.listener_text import FLAG_MARKER
from portwatch.core.model import AnnotatedListener, Listener, ProcessInfo
from portwatch.core.text import encodable

__all__ = [
    "BY_KEY",
    "FIELDS",
    "FLAG_MARKER",
    "HISTORY",
    "JSON_FIELDS",
    "TABLE",
    "WATCH_LINE",
    "Fact",
    "Field",
    "Part",
    "Record",
    "Stored",
    "changed_parts",
    "package_record",
    "process_facts",
    "process_from_stored",
    "process_to_stored",
    "record",
    "search_texts",
]

JSON_FIELDS: tuple[Field, ...] = tuple(field for field in FIELDS if field.json)
_JSON_READERS = tuple((field.key, field.read) for field in JSON_FIELDS)
_SEARCHED = tuple(field.search for field in FIELDS if field.search is not None)
_FACTS = tuple(field for field in FIELDS if field.fact is not None)
_STORED = tuple(field for field in FIELDS if field.stored is Stored.PROCESS)


class Fact(NamedTuple):
    key: str  # the field's
    label: str
    text: str
    mono: bool = False
    warn: bool = False


def record(item: AnnotatedListener) -> Record:
    """The listener as the JSON contract's object (catalog keys null when unknown)."""
    return {key: read(item) for key, read in _JSON_READERS}


def search_texts(item: AnnotatedListener) -> list[str]:
    """The texts the filter looks for its words in."""
    return [text for search in _SEARCHED for text in search(item)]


def process_facts(sock: Listener) -> list[Fact]:
    """The facts about a listener's owning process for the details pane, in field order
    (none when the owner is unknown)."""
    if sock.process is None:
        return []
    found = []
    for field in _FACTS:
        assert field.fact is not None
        text = field.fact(sock)
        if text is not None:
            found.append(Fact(field.key, field.fact_label or field.label, text, field.mono,
                              field.warn))
    return found


def process_to_stored(proc: ProcessInfo) -> dict[str, Any]:
    """The history's `process` object: every Stored.PROCESS field under its key. SQLite text is
    UTF-8, so the bytes of a name or path that were not UTF-8 are kept as \\xNN escapes (a
    command line's arguments stay exact: JSON keeps them as \\udcNN)."""
    stored = {}
    for field in _STORED:
        value = getattr(proc, field.attr or field.key)
        if isinstance(value, str):
            value = encodable(value)
        elif isinstance(value, tuple):
            value = list(value)
        stored[field.key] = value
    return stored


def process_from_stored(pid: int, stored: dict[str, Any]) -> ProcessInfo:
    """A ProcessInfo from the history's `process` object; keys it lacks (events recorded before
    a field existed) read as the field's empty value."""
    values = {field.attr or field.key: field.load(stored.get(field.key)) for field in _STORED}
    return ProcessInfo(pid=pid, **values)
