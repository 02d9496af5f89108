"""Plain dict records of listeners and catalog entries: the JSON contract of DESIGN.md.

`list --json`, `watch --json`, `lookup --json`, history and the exports all build their output
here, so the field names and their order are defined once.
"""

from __future__ import annotations

from typing import Any

from portwatch.core.model import (
    AnnotatedListener,
    CatalogEntry,
    Listener,
    Package,
    SecurityNote,
)


def note_record(note: SecurityNote) -> dict[str, Any]:
    """One security note; `applies_to` lists the process patterns of the product it is about
    (empty: about the port itself)."""
    return {
        "severity": note.severity.value,
        "kind": note.kind,
        "title": note.title,
        "note": note.note,
        "refs": list(note.refs),
        "origin": note.origin,
        "applies_to": list(note.applies_to),
    }


def _listener_notes(item: AnnotatedListener) -> list[dict[str, Any]]:
    """The entry's notes, each with "applies": whether it counts for this listener's process
    (false: context about another program, not part of the risk)."""
    applicable = item.assessment.applicable if item.assessment else ()
    return [{**note_record(note), "applies": note in applicable} for note in item.entry.security]


def listener_record(item: AnnotatedListener | Listener) -> dict[str, Any]:
    """One listener as the JSON contract's object (catalog keys null when unknown).

    `user` is the owning process's user, else the socket's (known also when the owner is
    hidden); `holders` every process holding the socket, the owner first."""
    annotated = item if isinstance(item, AnnotatedListener) else AnnotatedListener(item)
    sock = annotated.listener
    proc = sock.process
    provenance = proc.provenance if proc else None
    entry = annotated.entry
    return {
        "proto": sock.proto.value,
        "family": sock.family.value,
        "address": sock.address,
        "port": sock.port,
        "exposure": sock.exposure.value,
        "pid": proc.pid if proc else None,
        "process": proc.name if proc else None,
        "user": sock.user,
        "exe": proc.exe if proc else None,
        "cmdline": list(proc.cmdline) if proc else None,
        "holders": [{"pid": pid, "process": name} for pid, name in sock.holders],
        "exe_deleted": provenance.exe_deleted if provenance else None,
        "package": package_record(provenance.package) if provenance else None,
        "flags": list(provenance.flags) if provenance else [],
        "owner_hidden": sock.owner_hidden,
        "hidden_reason": sock.hidden_reason,
        "service": entry.service if entry else None,
        "description": entry.description if entry else None,
        "uses": [use.text for use in entry.uses] if entry else None,
        "likely_software": [use.software for use in annotated.likely_uses] if entry else None,
        "security": _listener_notes(annotated) if entry else None,
        "risk": annotated.assessment.risk.value if annotated.assessment else None,
        "risk_reason": annotated.assessment.reason if annotated.assessment else None,
        "firewall": annotated.firewall.record() if annotated.firewall else None,
    }


def owner_record(item: AnnotatedListener | Listener) -> dict[str, Any]:
    """Who owned a listener: `previous` of a `changed` event in `watch --json`."""
    sock = item.listener if isinstance(item, AnnotatedListener) else item
    proc = sock.process
    return {
        "pid": proc.pid if proc else None,
        "process": proc.name if proc else None,
        "user": sock.user,
        "exe": proc.exe if proc else None,
        "cmdline": list(proc.cmdline) if proc else None,
    }


def package_record(package: Package | None) -> dict[str, Any] | None:
    """{"manager", "name", "version"} of the package an executable came from, or None."""
    if package is None:
        return None
    return {"manager": package.manager, "name": package.name, "version": package.version}


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
        "security": [note_record(n) for n in entry.security],
        "refs": list(entry.refs),
    }
