"""How much to worry about one listener: the security notes that apply to its program, by exposure.

A port number does not say which program listens, so the catalog's notes are weighed against the
process that really owns the socket. Its *text* is the process name, the executable's file name
and the command line (its first 4 KB), lower-cased; a pattern matches when it is a substring.

Which notes apply
-----------------

- A note without `applies_to` is about the port or protocol itself: it applies to any program.
- A note with `applies_to` is about one product (a CVE in OpenSSH, Docker's open API): it applies
  when one of its patterns matches the process. When the owner is hidden (or not known) it
  cannot be ruled out: it applies, and the reason says "if the listener is <product>; portwatch
  cannot see which program this is". The same holds when the owner only holds the port for
  another program (FORWARDERS: docker-proxy publishing a container's port, systemd or inetd
  starting a service on demand, an ssh or kubectl port forward, a virtual machine's forwarded
  port): its name says nothing about what answers. Such a note is medium at most (the product
  is only possible); when the container's inner program is known (probe.containers), that
  program is judged instead of the forwarder (catalog.annotate).
- A `malware-history` note applies only when the process matches none of the port's known uses
  (devpi-server on 3141 is devpi, not MyDoom); with a hidden owner it applies.
- An `amplification` note applies only to UDP sockets.

Notes that do not apply stay in the catalog entry as context (the GUI and `lookup` show them) but
are left out of `Assessment.applicable` and do not raise the risk.

Risk of one applicable note
---------------------------

A note's severity maps to the risk of the same name (info to none), then by kind:

================  ===========================================  ==================================
kind              reachable from the network                   loopback only
                  (all interfaces or a local-network address)
================  ===========================================  ==================================
exposure          the severity (high stays high)               low at most: only this machine
                                                               can reach it
vulnerability     medium at most: portwatch cannot see the     low at most
                  version, so the reason says to check it;
                  low at most when it cannot see the program
amplification     medium for one product's flaw (applies_to:   none: nobody outside can abuse it
                  memcached, ntpd monlist); low for a
                  protocol every such service speaks (mDNS,
                  SSDP, DNS) or an info note; UDP only
malware-history   low, only for a program that is none of      none: the old backdoors served
                  the port's known uses (or is hidden):        other machines
                  "check what this program is"
================  ===========================================  ==================================

The listener gets the highest risk of its applicable notes, with that note's reason (on a tie the
first note wins, so the user's own notes, which come first, speak first). When that is none:

- the process matches a known use: "devpi-server, the usual software on this port";
- else an applicable note gives its own reason (an info note, or a note that loopback defuses);
- else, when the notes are about another product: "the notes for this port are about Docker
  Engine API, and this program is not it"; with no notes at all, "nothing known against this
  port".

Finally a port with no IANA registration and no known use, bound to all interfaces, is low at
least ("unknown service reachable from every network this machine is on").
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable

from portwatch.core.model import (
    Assessment,
    CatalogEntry,
    Exposure,
    KnownUse,
    ProcessInfo,
    Proto,
    Risk,
    SecurityNote,
    Severity,
)

MAX_CMDLINE_CHARS = 4096  # of the command line (joined by spaces) that patterns see

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
CANNOT_SEE = "portwatch cannot see which program this is"
_QUALIFIER = re.compile(r"\s*\([^()]*\)\s*$")  # "Docker Engine API (unencrypted)" -> the name


# Programs that hold a port on behalf of another one, by process name or executable file name
# (lower case, without ".exe"), with the words the reason uses for them.
_CONTAINER = "a container's published port"
_ON_DEMAND = "a port the service manager opens for a service it starts on demand"
_FORWARD = "a forwarded port"
_VM = "a virtual machine's forwarded port"
_WINDOWS = "a port held by a shared Windows process"
FORWARDERS: dict[str, str] = {
    **dict.fromkeys(("docker-proxy", "rootlessport", "rootlesskit", "slirp4netns", "pasta",
                     "pasta.avx2", "gvproxy", "vpnkit", "com.docker.backend",
                     "com.docker.proxy", "conmon"), _CONTAINER),
    **dict.fromkeys(("systemd", "launchd", "inetd", "xinetd"), _ON_DEMAND),
    **dict.fromkeys(("ssh", "kubectl", "socat", "wslrelay", "wslhost"), _FORWARD),
    **dict.fromkeys(("vboxheadless", "virtualboxvm", "virtualbox", "qemu-kvm", "vmnat",
                     "vmware-natd"), _VM),
    **dict.fromkeys(("system", "svchost"), _WINDOWS),
}
_FORWARDER_PREFIXES = (("qemu-system-", _VM),)


class Fit(enum.Enum):
    """How one security note relates to the program listening on the port."""

    APPLIES = "applies"  # about any program here, or the program matches the note
    UNSURE = "unsure"  # about one product; the owner is hidden, so it may be that product
    CONTEXT = "context"  # about another program: shown, but no reason to worry


def process_text(process: ProcessInfo | None) -> str:
    """What patterns are matched against: name, executable file name and command line (first
    4 KB), lower-cased, one per line. Empty when the owner is not known."""
    if process is None:
        return ""
    exe = (process.exe or "").replace("\\", "/").rsplit("/", 1)[-1]
    command = " ".join(process.cmdline)[:MAX_CMDLINE_CHARS]
    return "\n".join(part for part in (process.name, exe, command) if part).lower()


def forwarder(process: ProcessInfo | None) -> str | None:
    """What the process is when it only holds the port for another program ("a container's
    published port"); None for an ordinary program or an unknown owner."""
    if process is None:
        return None
    exe = (process.exe or "").replace("\\", "/").rsplit("/", 1)[-1]
    for name in (process.name, exe):
        name = name.lower().removesuffix(".exe") if name else ""
        if not name:
            continue
        label = FORWARDERS.get(name)
        if label is None:
            label = next((label for prefix, label in _FORWARDER_PREFIXES
                          if name.startswith(prefix)), None)
        if label is not None:
            return label
    return None


def matches(patterns: Iterable[str], text: str) -> bool:
    """Whether any lower-case pattern occurs in the process text (never for an unknown owner)."""
    return bool(text) and any(pattern in text for pattern in patterns)


def likely_uses(entry: CatalogEntry, text: str) -> tuple[KnownUse, ...]:
    """The entry's known uses whose `match` patterns fit the process text."""
    if not text:
        return ()
    return tuple(use for use in entry.uses if use.match and matches(use.match, text))


def note_fit(note: SecurityNote, entry: CatalogEntry, text: str,
             likely: tuple[KnownUse, ...] = (), held_for_another: bool = False) -> Fit:
    """Whether `note` counts for the program whose process text is `text` ("" when hidden);
    `held_for_another` when that program is a forwarder (see FORWARDERS)."""
    if note.kind == "amplification" and entry.proto is not Proto.UDP:
        return Fit.CONTEXT  # reflection needs spoofed UDP; a TCP handshake prevents it
    if note.kind == "malware-history" and likely:
        return Fit.CONTEXT  # the program is ordinary software known to use this port
    if not note.applies_to:
        return Fit.APPLIES
    if not text:
        return Fit.UNSURE
    if matches(note.applies_to, text):
        return Fit.APPLIES
    return Fit.UNSURE if held_for_another else Fit.CONTEXT


def product_name(note: SecurityNote, entry: CatalogEntry) -> str:
    """The software a product-specific note is about, for reasons: the first known use of the
    port that shares a pattern with the note, without its "(...)" qualifier; else the note's
    first pattern."""
    wanted = set(note.applies_to)
    for use in entry.uses:
        if wanted.intersection(use.match):
            return _short(use.software)
    return note.applies_to[0] if note.applies_to else "the software this note is about"


def assess(entry: CatalogEntry, exposure: Exposure,
           process: ProcessInfo | None = None) -> Assessment:
    """The risk of a socket at `exposure` on `entry`'s port, owned by `process` (None when
    hidden or unknown), with a one-line reason and the notes that applied."""
    text = process_text(process)
    held_for = forwarder(process) if text else None
    likely = likely_uses(entry, text)
    # Why portwatch cannot tell which program answers, when it cannot
    blind = CANNOT_SEE if not text else (
        f"this is {held_for}, so portwatch cannot see which program answers" if held_for
        else None)
    applicable: list[SecurityNote] = []
    context: list[SecurityNote] = []
    best: Assessment | None = None
    for note in entry.security:
        fit = note_fit(note, entry, text, likely, held_for is not None)
        if fit is Fit.CONTEXT:
            context.append(note)
            continue
        applicable.append(note)
        candidate = _assess_note(note, entry, exposure, fit, blind)
        if best is None or candidate.risk.rank > best.risk.rank:
            best = candidate
    risk = best.risk if best else Risk.NONE
    if risk is not Risk.NONE:
        reason = best.reason
    elif likely:
        reason = f"{_short(likely[0].software)}, the usual software on this port"
    elif best is not None:
        reason = best.reason
    elif (other := next((n for n in context if n.applies_to), None)) is not None:
        reason = (f"the notes for this port are about {product_name(other, entry)}, "
                  "and this program is not it")
    else:
        reason = NOTHING_KNOWN
    if (not entry.registered and not entry.uses and exposure is Exposure.ALL_INTERFACES
            and risk.rank < Risk.LOW.rank):
        risk, reason = Risk.LOW, f"unknown service {_REACH[exposure]}"
    return Assessment(risk, reason, tuple(applicable))


def _assess_note(note: SecurityNote, entry: CatalogEntry, exposure: Exposure, fit: Fit,
                 blind: str | None) -> Assessment:
    """One applicable note's risk and reason; `blind` says why portwatch cannot tell which
    program answers (None when it can)."""
    risk = _FROM_SEVERITY[note.severity]
    title = note.title.rstrip(" .")
    networked = exposure is not Exposure.LOOPBACK
    reach = _REACH[exposure]
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
        # A protocol every such service speaks (mDNS, SSDP, DNS) is how the LAN works: worth
        # knowing, not worrying about, unless the machine is on the open Internet. A flaw of
        # one product (memcached's UDP, ntpd's monlist) is worth fixing: medium.
        if note.severity is Severity.INFO or not note.applies_to:
            return Assessment(Risk.LOW, f"{title}, {reach}; it matters only if this machine is"
                              f" reachable from the Internet{unsure}")
        return Assessment(Risk.MEDIUM, f"{title}, {reach}{unsure}")
    if note.kind == "vulnerability":
        # Only some versions are affected, and portwatch cannot see the version: say so.
        if not note.applies_to:
            title = f"{title}, if that is the software listening here"
        # Medium at most on the network; low when portwatch cannot even see the program.
        risk = _cap(risk, Risk.MEDIUM if networked and fit is Fit.APPLIES else Risk.LOW)
        return Assessment(risk, f"{title}: check your version; {reach}{unsure}")
    if not networked:  # exposure, and any kind a later schema adds
        risk = _cap(risk, Risk.LOW)
    elif fit is Fit.UNSURE and blind not in (None, CANNOT_SEE):
        # A forwarder (a container's published port, socket activation) whose inner program
        # is unknown: the product is only possible, so medium at most.
        risk = _cap(risk, Risk.MEDIUM)
    return Assessment(risk, f"{title}{',' if networked else ';'} {reach}{unsure}")


def _short(software: str) -> str:
    """"Docker Engine API (unencrypted)" -> "Docker Engine API": the name without qualifier."""
    return _QUALIFIER.sub("", software) or software


def _cap(risk: Risk, ceiling: Risk) -> Risk:
    return risk if risk.rank <= ceiling.rank else ceiling
