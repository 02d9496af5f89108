"""How a listener's catalog facts read: its known uses and security notes, in a useful order.

Shared by the table's cells and tooltips, the JSON record's notes and the filter.
"""

from __future__ import annotations

from typing import Any

from portwatch.core.model import AnnotatedListener, Severity

_SEVERITY_RANK = {severity: severity.rank for severity in Severity}


def listener_notes(item: AnnotatedListener) -> list[dict[str, Any]] | None:
    """The entry's notes, each with "applies": whether it counts for this listener's process
    (false: context about another program, not part of the risk). None without an entry."""
    if item.entry is None:
        return None
    counted = item.assessment.applicable if item.assessment else ()
    return [{**note.record(), "applies": note in counted} for note in all_notes(item)]


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


def all_notes(item: AnnotatedListener) -> tuple:
    """The port's notes and those of the software the program is (they follow it to any
    port, so they are not all in the port's entry)."""
    notes = item.entry.security if item.entry is not None else ()
    extra = tuple(n for n in applicable(item) if n not in notes)
    return (*notes, *extra) if extra else notes


def notes_in_order(item: AnnotatedListener) -> list:
    """The notes, those that apply to the listening program first, each part worst first:
    a CVE of another product that once used the port comes after what matters here."""
    counted = applicable(item)
    return sorted(all_notes(item), key=lambda n: (n not in counted, -n.severity.rank))


def notes_are_context(item: AnnotatedListener) -> bool:
    """True when the port has notes but none applies to the listening program (grey text)."""
    return item.entry is not None and bool(all_notes(item)) and not applicable(item)


def severity_sort_value(item: AnnotatedListener) -> int:
    """The worst note that applies, then the worst of all (context), then how many."""
    notes = all_notes(item)
    if item.entry is None or not notes:
        return 0
    counted = max((_SEVERITY_RANK[n.severity] + 1 for n in applicable(item)), default=0)
    highest = max(_SEVERITY_RANK[n.severity] for n in notes)
    return counted * 100_000 + (highest + 1) * 1000 + len(notes)


def short_name(software: str) -> str:
    """"Docker Engine API (unencrypted)" -> "Docker Engine API": fits a table cell."""
    name, _, _ = software.partition(" (")
    return name or software
