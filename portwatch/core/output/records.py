"""Plain dict records of listeners and catalog entries: the JSON contract the README describes.

`list --json`, `watch --json`, `lookup --json`, history and the exports all build their output
here. A listener's keys, and their order, come from the field declarations
(`portwatch.core.fields`), so they are defined once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from portwatch.core import model

if TYPE_CHECKING:
    from portwatch.core.model import AnnotatedListener, CatalogEntry, Listener

__all__ = ["entry_record", "listener_record", "owner_record"]


def listener_record(item: AnnotatedListener | Listener) -> dict[str, Any]:
    """One listener as the JSON contract's object (catalog keys null when unknown)."""
    from portwatch.core import fields  # not for `lookup`, which prints catalog entries only

    annotated = model.AnnotatedListener
    return fields.record(item if isinstance(item, annotated) else annotated(item))


def owner_record(item: AnnotatedListener | Listener) -> dict[str, Any]:
    """Who owned a listener: `previous` of a `changed` event in `watch --json` (and the
    journal's PREVIOUS_* fields): the fields declared `owner`."""
    from portwatch.core import fields

    annotated = item if isinstance(item, model.AnnotatedListener) else \
        model.AnnotatedListener(item)
    return {field.key: field.read(annotated) for field in fields.FIELDS if field.owner}


def entry_record(entry: CatalogEntry) -> dict[str, Any]:
    """One catalog entry as `lookup --json` prints it."""
    return {
        "port": entry.port,
        "proto": entry.proto.value,
        "registered": entry.registered,
        "service": entry.service,
        "description": entry.description,
        "uses": [use.text for use in entry.uses],
        "uses_detail": [
            {"software": u.software, "note": u.note, "refs": list(u.refs), "origin": u.origin,
             "match": list(u.match)}
            for u in entry.uses
        ],
        "security": [note.record() for note in entry.security],
        "refs": list(entry.refs),
    }
