"""Immutable values shared by every layer: listeners, snapshots, diffs, catalog entries, alerts.

Everything here is a frozen dataclass (or an enum) so it can cross the worker -> GUI thread
boundary through a Qt signal without copying or locking. Nothing here imports Qt or psutil.
Its public face is this package; the values live by role in `listener` (what the probe sees),
`entry` (what the catalog knows about a port), `annotated` (what the catalog adds to a
listener), `alert` (what the user is told), `connection` (who is connected) and `kinds` (the
enums). The names load their module when first used (PEP 562):
the netlink parser and `list`'s saved answer need the enums and connection summaries, not the
frozen dataclasses, whose set-up is ≈ 10 ms of a start-up.
"""

from __future__ import annotations

from portwatch.lazy import lazy_exports

_EXPORTS = {
    **dict.fromkeys(("Alert", "AlertKind", "IgnoreRule", "ListenerIdentity"), "alert"),
    **dict.fromkeys(("AnnotatedListener", "Assessment"), "annotated"),
    **dict.fromkeys(("CatalogEntry", "KnownUse", "SecurityNote", "Software"), "entry"),
    **dict.fromkeys(("PEER_SCOPE_WORDS", "ConnectionSummary", "Peer"), "connection"),
    **dict.fromkeys(("Exposure", "Family", "Proto", "Risk", "Severity"), "kinds"),
    **dict.fromkeys(("EXE_DELETED", "EXE_IN_TEMP_DIR", "FLAG_TEXT", "KERNEL_LIKE_NAME",
                     "NAME_MISMATCH", "ContainerInfo", "Holder", "Listener", "ListenerDiff",
                     "ListenerKey", "Package", "ProcessInfo", "Provenance", "Snapshot"),
                    "listener"),
}
__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS, globals())
