"""How much to worry about one listener: the written risk policy, applied to one socket.

A port number does not say which program listens. recognition.py says which program the
process *is* (its executable first; see there), and the policy below weighs the notes of that
program, wherever it listens, with the notes about the port itself.

Which notes count
-----------------

- The recognised software's own notes (the catalog's `software` section) count on any port.
- A port note without `applies_to` is about the port or protocol itself and counts for any
  program; one with `applies_to` counts when the recognised program is that product.
- When the program cannot be seen (hidden owner) or only holds the port for another one
  (FORWARDERS: docker-proxy, rootlessport, systemd socket activation, an ssh forward) a
  product note cannot be ruled out: it counts, hedged ("if the listener is Redis; …"), and
  raises the risk to medium at most. When a container's inner program is known
  (probe.containers), that program is judged instead of the forwarder (catalog.annotate).
- `malware-history` counts only for a program portwatch does not recognise ("check what this
  program is"); devpi-server on 3141 is devpi, not MyDoom.
- `amplification` counts only for UDP.
- A note limited to some distributions (`platforms`, os-release IDs) does not count on another
  distribution. When /etc/os-release cannot be read it counts as a question, medium at most.
- A note limited to some versions (`versions`) does not count when the package version is known
  and outside them (the version comes from the package database when a probe supplies it).

Notes that do not count stay in the entry as context (the GUI and `lookup` show them).

Risk of a counted note, by exposure
-----------------------------------

================  ====================================  =======================================
kind              reachable from the network            loopback only
================  ====================================  =======================================
exposure          its severity                          none: "only this machine can reach it";
                                                        medium at most for a note about the
                                                        machine's other users (`local_users`)
vulnerability     medium at most, "check your version"  none (low with `local_users`)
amplification     medium for one product's flaw; low    none
                  for a protocol every service speaks
malware-history   low: "check what this program is"     none
================  ====================================  =======================================

A note that depends on a setting portwatch cannot see (`unless`: "a token or password is set")
is worded as a question ("check that a token or password is set") and is medium at most; so is
a note about a distribution portwatch cannot identify.

Trust flags raise the risk (recognition.py, and the provenance probe's): a process name that
claims a program its executable is not (`name-mismatch`: medium on the network, low on
loopback, and the name recognises nothing), a name like a kernel thread's on a program
(`kernel-like-name`: the same), an executable deleted or replaced after start (`exe-deleted`:
the same), an executable in a temporary directory reachable from the network
(`exe-in-temp-dir`: medium), any other renamed process reachable from the network (low).

The listener gets the highest risk, with that note's or flag's reason (flags speak first, then
the software's notes, then the user's port notes, then the bundled ones). At risk none the
reason says why: "only this machine can reach it" (an exposure note loopback defuses), "Redis,
the usual software on this port", "Redis, recognised by its executable", an info note, "the
notes for this port are about …", a UDP client socket, or "nothing known against this port".
A port nobody registered and no software uses, bound to all interfaces, is low ("unknown service
reachable from every network this machine is on") unless it is an unconnected UDP socket on an
ephemeral port: that is a program's client socket (a resolver waiting for replies), not a
service. Every reason is one sentence.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from portwatch.core.knowledge.recognition import (  # noqa: F401 - forwarder, FORWARDERS: public here
    FORWARDERS,
    Recognition,
    forwarder,
    name_is,
    recognise,
    word_match,
)
from portwatch.core.knowledge.versions import in_versions
from portwatch.core.model import (
    EXE_DELETED,
    EXE_IN_TEMP_DIR,
    KERNEL_LIKE_NAME,
    NAME_MISMATCH,
    Assessment,
    CatalogEntry,
    Exposure,
    ProcessInfo,
    Proto,
    Risk,
    SecurityNote,
    Severity,
)

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
LOCAL_USERS = "any user or program on this machine can reach it"
NOTHING_KNOWN = "nothing known against this port"
CANNOT_SEE = "portwatch cannot see which program this is"
EPHEMERAL = (49152, 65535)  # IANA's dynamic range, when the system's is not known
_QUALIFIER = re.compile(r"\s*\([^()]*\)\s*$")  # "Docker Engine API (unencrypted)" -> the name


class Fit(enum.Enum):
    """How one security note relates to the program listening on the port."""

    APPLIES = "applies"  # about any program here, or the program matches the note
    UNSURE = "unsure"  # about one product; the owner is hidden, so it may be that product
    CONTEXT = "context"  # about another program or system: shown, but no reason to worry


@dataclass(frozen=True, slots=True)
class Situation:
    """What portwatch knows beyond the socket: the distribution's os-release IDs (None when
    unknown), the package version of the program (None when unknown), the ephemeral range."""

    platform: frozenset[str] | None = None
    version: str | None = None
    ephemeral: tuple[int, int] = EPHEMERAL


UNKNOWN_SITUATION = Situation()


def note_fit(note: SecurityNote, entry: CatalogEntry, rec: Recognition, *, seen: bool = True,
             held_for_another: bool = False, situation: Situation = UNKNOWN_SITUATION) -> Fit:
    """Whether `note` counts for the program recognised as `rec` (`seen`: portwatch can see
    the owner at all; `held_for_another`: it is a forwarder)."""
    if note.kind == "amplification" and entry.proto is not Proto.UDP:
        return Fit.CONTEXT  # reflection needs spoofed UDP; a TCP handshake prevents it
    if note.platforms and situation.platform is not None and not (
            situation.platform & set(note.platforms)):
        return Fit.CONTEXT  # about another distribution
    if note.versions and situation.version and in_versions(situation.version,
                                                           note.versions) is False:
        return Fit.CONTEXT  # this version is not affected
    if note.kind == "malware-history" and rec.name is not None:
        return Fit.CONTEXT  # the program is ordinary software portwatch recognises
    if held_for_another and (note.software or note.applies_to):
        return Fit.UNSURE  # its name says nothing about the program that answers
    if note.software is not None:
        return Fit.APPLIES if rec.software and rec.software.name == note.software else (
            Fit.UNSURE if not seen or held_for_another else Fit.CONTEXT)
    if not note.applies_to:
        return Fit.APPLIES
    if not seen:
        return Fit.UNSURE
    if _is_product(note, rec):
        return Fit.APPLIES
    return Fit.UNSURE if held_for_another else Fit.CONTEXT


def _is_product(note: SecurityNote, rec: Recognition) -> bool:
    wanted = set(note.applies_to)
    if rec.software is not None and (rec.software.name in wanted or any(
            name_is(p, rec.software.executables) for p in wanted)):
        return True
    if any(wanted.intersection(use.match) for use in rec.uses):
        return True
    return any(word_match(p, name) for p in wanted for name in rec.names)


def product_name(note: SecurityNote, entry: CatalogEntry) -> str:
    """The software a product-specific note is about, for reasons."""
    if note.software:
        return _short(note.software)
    wanted = set(note.applies_to)
    for use in entry.uses:
        if wanted.intersection(use.match):
            return _short(use.software)
    return note.applies_to[0] if note.applies_to else "the software this note is about"


def assess(entry: CatalogEntry, exposure: Exposure, process: ProcessInfo | None = None,
           recognition: Recognition | None = None,
           situation: Situation = UNKNOWN_SITUATION, reach: str | None = None) -> Assessment:
    """The risk of a socket at `exposure` on `entry`'s port, owned by `process` (None when
    hidden), recognised as `recognition` (default: among the port's own uses only), with a
    one-sentence reason and the notes that counted. The entry's notes include those of the
    software whose default port it is: context for another program, hedged when hidden.

    `reach` replaces the exposure's words for who can reach the socket (reach.py: "the firewall
    drops new connections from outside, so only this machine can reach it", with `exposure`
    loopback); the reason then says it once, first when no note's sentence holds it."""
    where = reach or _REACH[exposure]
    rec = recognition if recognition is not None else recognise(process, entry.uses)
    seen = process is not None and bool(process.name or process.exe or process.cmdline)
    held_for = rec.held_for if seen else None
    blind = CANNOT_SEE if not seen else (
        f"this is {held_for}, so portwatch cannot see which program answers" if held_for
        else None)
    notes = entry.security
    if rec.software is not None:
        own = rec.software.security
        notes = (*own, *(note for note in entry.security if note not in own))
    applicable: list[SecurityNote] = []
    context: list[SecurityNote] = []
    best = _flag_assessment(rec, exposure, where)
    defused = False
    for note in notes:
        fit = note_fit(note, entry, rec, seen=seen, held_for_another=held_for is not None,
                       situation=situation)
        if fit is Fit.CONTEXT:
            context.append(note)
            continue
        candidate = _assess_note(note, entry, exposure, fit, blind, situation, where)
        if candidate is None:  # an exposure note on loopback: it does not count
            defused = True
            context.append(note)
            continue
        applicable.append(note)
        if best is None or candidate.risk.rank > best.risk.rank:
            best = candidate
    risk = best.risk if best else Risk.NONE
    name = _short(rec.name) if rec.name and held_for is None else None
    if risk is not Risk.NONE:
        reason = best.reason
    elif defused:
        label = name or held_for or entry.service or "this service"
        reason = f"{label}: {where}"
    elif name and rec.usual:
        reason = f"{name}, the usual software on this port"
    elif name:
        reason = f"{name}, recognised by its {rec.by}"
    elif best is not None:
        reason = best.reason
    elif (other := next((n for n in context if n.applies_to or n.software), None)) is not None:
        reason = (f"the notes for this port are about {product_name(other, entry)}, "
                  "and this program is not it")
    else:
        reason = NOTHING_KNOWN
    if (risk is Risk.NONE and not entry.uses and name is None and entry.proto is Proto.UDP
            and situation.ephemeral[0] <= entry.port <= situation.ephemeral[1]):
        reason = ("a client socket (UDP on a temporary port the system picked), "
                  "not a service")
    elif (not entry.registered and not entry.uses and exposure is Exposure.ALL_INTERFACES
            and name is None and risk.rank < Risk.LOW.rank):
        risk, reason = Risk.LOW, f"unknown service {where}"
    if reach is not None and reach not in reason:
        reason = f"{reach}; {reason}"
    return Assessment(risk, reason, tuple(applicable))


def _flag_assessment(rec: Recognition, exposure: Exposure, where: str) -> Assessment | None:
    """The risk the trust flags give on their own (None: no flag raises it)."""
    networked = exposure is not Exposure.LOOPBACK
    exe = rec.exe or "an unknown file"
    if NAME_MISMATCH in rec.flags and rec.claimed:
        return Assessment(Risk.MEDIUM if networked else Risk.LOW,
                          f"its process calls itself {_short(rec.claimed)} but runs"
                          f" {exe}, so it is not trusted to be that program: check what this"
                          " program is")
    if KERNEL_LIKE_NAME in rec.flags:
        return Assessment(Risk.MEDIUM if networked else Risk.LOW,
                          f"it is named like a kernel thread but runs {exe} (kernel threads"
                          " have no program file): check what this program is")
    if EXE_DELETED in rec.flags:
        return Assessment(Risk.MEDIUM if networked else Risk.LOW,
                          f"its program file {exe} was deleted or replaced after it started"
                          " (an upgrade waiting for a restart, or a program hiding its file)")
    if EXE_IN_TEMP_DIR in rec.flags and networked:
        return Assessment(Risk.MEDIUM, f"it runs {exe} from a temporary directory and is"
                          f" {where}: check what this program is")
    if NAME_MISMATCH in rec.flags and networked:  # renamed, but not as a program we know
        return Assessment(Risk.LOW, f"its process name is not that of its program {exe} and"
                          f" it is {where}: check what this program is")
    return None


def _assess_note(note: SecurityNote, entry: CatalogEntry, exposure: Exposure, fit: Fit,
                 blind: str | None, situation: Situation, where: str) -> Assessment | None:
    """One counted note's risk and reason (`where`: who can reach it); None when loopback
    defuses it."""
    risk = _FROM_SEVERITY[note.severity]
    title = note.title.rstrip(" .")
    networked = exposure is not Exposure.LOOPBACK
    reach = where
    unsure = (f", if the listener is {product_name(note, entry)}; {blind or CANNOT_SEE}"
              if fit is Fit.UNSURE else "")
    if note.kind == "malware-history":
        if not networked:
            return Assessment(Risk.NONE, f"port once used by malware ({title}); {reach}")
        others = "ordinary software uses it too" if entry.uses or entry.registered else (
            "the history alone is not a sign of infection")
        check = blind or "check what this program is"
        return Assessment(Risk.LOW, f"port once used by malware ({title}); {others} — {check}")
    if note.kind == "amplification":
        if not networked:
            return Assessment(Risk.NONE, f"{title}; {reach}, so nobody outside can abuse it")
        if note.severity is Severity.INFO or not (note.applies_to or note.software):
            return Assessment(Risk.LOW, f"{title}, {reach}; it matters only if this machine is"
                              f" reachable from the Internet{unsure}")
        return Assessment(_cap(risk, Risk.MEDIUM), f"{title}, {reach}{unsure}")
    if not networked and not note.local_users:
        return None  # nobody else can reach it
    if not networked:
        reach, ceiling = LOCAL_USERS, Risk.MEDIUM
    else:
        ceiling = Risk.MEDIUM if fit is Fit.UNSURE else Risk.HIGH
    question = _question(note, situation)
    if question:
        ceiling = _cap(ceiling, Risk.MEDIUM)
    if note.kind == "vulnerability":
        if not (note.applies_to or note.software):
            title = f"{title}, if that is the software listening here"
        ceiling = _cap(ceiling, Risk.MEDIUM if fit is Fit.APPLIES else Risk.LOW)
        if not networked:
            ceiling = Risk.LOW
        reason = f"{title}: check your version; {reach}{unsure}"
        if question:
            reason = f"{title}, {reach}: {question}{unsure}"
        return Assessment(_cap(risk, ceiling), reason)
    if question:
        return Assessment(_cap(risk, ceiling), f"{title}, {reach}: {question}{unsure}")
    return Assessment(_cap(risk, ceiling), f"{title}, {reach}{unsure}")


def _question(note: SecurityNote, situation: Situation) -> str | None:
    """What the user should check when the note depends on something portwatch cannot see."""
    if note.unless:
        return f"check that {note.unless.rstrip(' .')}"
    if note.platforms and situation.platform is None:
        return f"it concerns only {', '.join(note.platforms)}; check which system this is"
    return None


def _short(software: str) -> str:
    """"Docker Engine API (unencrypted)" -> "Docker Engine API": the name without qualifier."""
    return _QUALIFIER.sub("", software) or software


def _cap(risk: Risk, ceiling: Risk) -> Risk:
    return risk if risk.rank <= ceiling.rank else ceiling
