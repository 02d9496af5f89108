"""Immutable values shared by every layer: listeners, snapshots, diffs, catalog entries, alerts.

Everything here is a frozen dataclass (or an enum) so it can cross the worker -> GUI thread
boundary through a Qt signal without copying or locking. Nothing here imports Qt or psutil.
Its public face is this package; the values live by role in `listener` (what the probe sees),
`annotated` (what the catalog adds) and `alert` (what the user is told).
"""

from __future__ import annotations

from portwatch.core.model.alert import (
    Alert,
    AlertKind,
    IgnoreRule,
    ListenerIdentity,
)
from portwatch.core.model.annotated import (
    PEER_SCOPE_WORDS,
    AnnotatedListener,
    Assessment,
    CatalogEntry,
    ConnectionSummary,
    KnownUse,
    Peer,
    SecurityNote,
    Software,
)
from portwatch.core.model.listener import (
    EXE_DELETED,
    EXE_IN_TEMP_DIR,
    FLAG_TEXT,
    KERNEL_LIKE_NAME,
    NAME_MISMATCH,
    ContainerInfo,
    Exposure,
    Family,
    Holder,
    Listener,
    ListenerDiff,
    ListenerKey,
    Package,
    ProcessInfo,
    Proto,
    Provenance,
    Risk,
    Severity,
    Snapshot,
)

__all__ = [
    "EXE_DELETED",
    "EXE_IN_TEMP_DIR",
    "FLAG_TEXT",
    "KERNEL_LIKE_NAME",
    "NAME_MISMATCH",
    "PEER_SCOPE_WORDS",
    "Alert",
    "AlertKind",
    "AnnotatedListener",
    "Assessment",
    "CatalogEntry",
    "ConnectionSummary",
    "ContainerInfo",
    "Exposure",
    "Family",
    "Holder",
    "IgnoreRule",
    "KnownUse",
    "Listener",
    "ListenerDiff",
    "ListenerIdentity",
    "ListenerKey",
    "Package",
    "Peer",
    "ProcessInfo",
    "Proto",
    "Provenance",
    "Risk",
    "SecurityNote",
    "Severity",
    "Snapshot",
    "Software",
]
