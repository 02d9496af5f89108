"""How a listener's catalog facts read: its known uses and security notes, in a useful order.

Shared by the table's cells and tooltips, the JSON record's notes and the filter.
"""

from __future__ import annotations

from typing import Any

from portwatch.core.model import AnnotatedListener, SecurityNote, Severity

_SEVERITY_RANK = {severity: severity.rank for severity in Severity}


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


def listener_notes(item: AnnotatedListener) -> list[dict[str, Any]] | None:
    """The entry's notes, each with "applies": whether it counts for this listener's process
    (false: context about another program, not part of the risk). None without an entry."""
    if item.entry is None:
        return None
    applicable = item.assessment.applicable if item.assessment else ()
    return [{**note_record(note), "applies": note in applicable} for note in item.entry.security]


def uses_text(item: AnnotatedListener) -> str:
    """The "Known uses" cell: the uses whose patterns fit the listening program when there are
    any (the software it probably is), else every known use of the port."""
    uses = item.likely_uses or (item.entry.uses if item.entry is not None else ())
    return ", ".join(dict.fromkeys(use.software for use in uses))


def applicable(item: AnnotatedListener) -> tuple:
    """The notes that count for this listener (all of them when nothing was assessed)."""
    if item.assessment is None:
        return item.entry.security if item.entry is not None else ()
    return item.assessment.applicable


def notes_in_order(item: AnnotatedListener) -> list:
    """The port's notes, those that apply to the listening program first, each part worst
    first: a CVE of another product that once used the port comes after what matters here."""
    notes = item.entry.security if item.entry is not None else ()
    counted = applicable(item)
    return sorted(notes, key=lambda n: (n not in counted, -n.severity.rank))


def notes_are_context(item: AnnotatedListener) -> bool:
    """True when the port has notes but none applies to the listening program (grey text)."""
    entry = item.entry
    return entry is not None and bool(entry.security) and not applicable(item)


def severity_sort_value(item: AnnotatedListener) -> int:
    """The worst note that applies, then the worst of all (context), then how many."""
    entry = item.entry
    if entry is None or not entry.security:
        return 0
    counted = max((_SEVERITY_RANK[n.severity] + 1 for n in applicable(item)), default=0)
    highest = max(_SEVERITY_RANK[n.severity] for n in entry.security)
    return counted * 100_000 + (highest + 1) * 1000 + len(entry.security)


def short_name(software: str) -> str:
    """"Docker Engine API (unencrypted)" -> "Docker Engine API": fits a table cell."""
    name, _, _ = software.partition(" (")
    return name or software
