"""What the catalog adds to a listener: the assessed risk, and the annotated listener that joins
the listener, its catalog entry (entry.py), that risk and who is connected (connection.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from portwatch.core.model.connection import ConnectionSummary
from portwatch.core.model.entry import CatalogEntry, KnownUse, SecurityNote
from portwatch.core.model.listener import Listener, ListenerKey, Risk


@dataclass(frozen=True, slots=True)
class Assessment:
    """The risk of one listener and the one-line reason for it."""

    risk: Risk
    reason: str
    # The notes that count for this listener: product-specific notes whose `applies_to` does
    # not match the listening process are shown as context but do not raise the risk.
    applicable: tuple[SecurityNote, ...] = ()


@dataclass(frozen=True, slots=True)
class AnnotatedListener:
    """A listener joined with what the catalog knows about its port."""

    listener: Listener
    entry: CatalogEntry | None = None  # None only when no catalog was available
    assessment: Assessment | None = None
    likely_uses: tuple[KnownUse, ...] = ()  # the software the process was recognised as
    recognised_by: str | None = None  # executable | script | package | process name | ...
    flags: tuple[str, ...] = ()  # trust flags: name-mismatch, exe-deleted, exe-in-temp-dir
    # The host firewall's verdict (portwatch.core.firewall.FirewallVerdict); None for loopback
    # listeners and where no firewall reader ran.
    firewall: Any = None
    # Who is connected (TCP listeners of the host's namespace); None: not counted or unknown.
    connections: ConnectionSummary | None = None

    @property
    def key(self) -> ListenerKey:
        return self.listener.key
