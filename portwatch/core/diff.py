"""Compare two scans: which listeners opened, closed or changed (by ListenerKey)."""

from __future__ import annotations

from collections.abc import Iterable

from portwatch.core.model import Listener, ListenerDiff


def diff(previous: Iterable[Listener], current: Iterable[Listener]) -> ListenerDiff:
    """Listeners in `current` but not `previous` are opened, the reverse closed; a listener whose
    key is in both but whose other fields differ (e.g. the process changed its command line)
    is changed. Order follows the input order."""
    before = {item.key: item for item in previous}
    after = {item.key: item for item in current}
    opened = tuple(item for key, item in after.items() if key not in before)
    closed = tuple(item for key, item in before.items() if key not in after)
    changed = []
    for key, item in after.items():
        old = before.get(key)
        # The scanner hands back the same object for an unchanged row: `is` settles most.
        if old is not None and old is not item and old != item:
            changed.append(item)
    return ListenerDiff(opened, closed, tuple(changed))
