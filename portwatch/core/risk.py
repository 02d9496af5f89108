"""How much to worry about one listener: its catalog entry's security notes weighed by exposure.

Each security note gives a risk; the listener gets the highest, with that note's reason (on a
tie the first note wins, so the user's own notes, which come first, speak first). A note's
severity maps to a risk of the same name, except info, which is none. Then, by kind:

================  =========================================  ==================================
kind              reachable from the network                 loopback only
                  (all interfaces or a local-network address)
================  =========================================  ==================================
exposure          the severity (high stays high)             low at most: only this machine
                                                             can reach it
vulnerability     the severity                               the severity, capped at medium
amplification     medium (low for an info note)              none: nobody outside can abuse it
malware-history   low at most (none for an info note):       the same
                  the history alone is no reason to worry
================  =========================================  ==================================

Without notes the risk is none ("nothing known against this port"), except that a port with no
IANA registration and no known use, bound to all interfaces, is low ("unknown service reachable
from every network this machine is on"). The reason is one line of plain words; a vulnerability's
reason adds "if that is the software listening here", since a port number does not tell which
program (or version) listens.
"""

from __future__ import annotations

from portwatch.core.model import Assessment, CatalogEntry, Exposure, Risk, SecurityNote, Severity

_FROM_SEVERITY = {
    Severity.INFO: Risk.NONE,
    Severity.LOW: Risk.LOW,
    Severity.MEDIUM: Risk.MEDIUM,
    Severity.HIGH: Risk.HIGH,
}
_REACH = {
    Exposure.ALL_INTERFACES: "reachable from every network this machine is on",
    Exposure.LOCAL_NETWORK: "reachable from other machines on the network of its address",
    Exposure.LOOPBACK: "only this machine can reach it",
}
NOTHING_KNOWN = "nothing known against this port"


def assess(entry: CatalogEntry, exposure: Exposure) -> Assessment:
    """The risk of a socket at `exposure` on `entry`'s port, with a one-line reason."""
    best = Assessment(Risk.NONE, NOTHING_KNOWN)
    found = False
    for note in entry.security:
        candidate = _assess_note(note, entry, exposure)
        if not found or candidate.risk.rank > best.risk.rank:
            best, found = candidate, True
    if (not entry.registered and not entry.uses and exposure is Exposure.ALL_INTERFACES
            and best.risk.rank < Risk.LOW.rank):
        best = Assessment(Risk.LOW, f"unknown service {_REACH[exposure]}")
    return best


def _assess_note(note: SecurityNote, entry: CatalogEntry, exposure: Exposure) -> Assessment:
    risk = _FROM_SEVERITY[note.severity]
    title = note.title.rstrip(" .")
    networked = exposure is not Exposure.LOOPBACK
    if note.kind == "malware-history":
        others = "ordinary software uses it too" if entry.uses or entry.registered else (
            "the history alone is not a sign of infection")
        reason = f"port once used by malware ({title}); {others}"
        return Assessment(_cap(risk, Risk.LOW), reason)
    if note.kind == "amplification":
        if not networked:
            return Assessment(Risk.NONE, f"{title}; {_REACH[exposure]}, so nobody outside "
                                         "can abuse it")
        risk = Risk.LOW if note.severity is Severity.INFO else Risk.MEDIUM
    elif note.kind == "vulnerability":
        # The port alone does not say which software (or version) listens: say so.
        title = f"{title}, if that is the software listening here"
        if not networked:
            risk = _cap(risk, Risk.MEDIUM)
    elif not networked:  # exposure, and any kind a later schema adds
        risk = _cap(risk, Risk.LOW)
    return Assessment(risk, f"{title}{',' if networked else ';'} {_REACH[exposure]}")


def _cap(risk: Risk, ceiling: Risk) -> Risk:
    return risk if risk.rank <= ceiling.rank else ceiling
