"""What the catalog knows about a port: its known uses, security notes and software, joined in
one catalog entry per port and protocol.

Apart from the listener's values so that `portwatch lookup`, which shows entries and scans
nothing, sets up these four frozen dataclasses and not the rest of the model's.
"""

from __future__ import annotations

from dataclasses import dataclass

from portwatch.core.model.kinds import Proto, Severity


@dataclass(frozen=True, slots=True)
class KnownUse:
    """Software that really listens on a port in practice, with where that fact comes from."""

    software: str
    note: str
    refs: tuple[str, ...] = ()
    origin: str = "bundled"  # "bundled" or the path of the user's catalog file
    match: tuple[str, ...] = ()  # lower-case process-name patterns that identify this software

    @property
    def text(self) -> str:
        return f"{self.software}: {self.note}" if self.note else self.software


@dataclass(frozen=True, slots=True)
class SecurityNote:
    """Something a user should know about a port's security history or exposure."""

    title: str
    severity: Severity
    kind: str  # malware-history | exposure | vulnerability | amplification
    note: str
    refs: tuple[str, ...] = ()
    origin: str = "bundled"
    # Lower-case process-name patterns of the software this note is about (a CVE in one
    # product); empty when it is about the port itself (amplification, malware history).
    applies_to: tuple[str, ...] = ()
    # Conditions (see risk.py): distributions it concerns (os-release IDs), affected versions,
    # the setting that makes it harmless (asked as a question), and whether it matters to the
    # other users of this machine even on loopback.
    platforms: tuple[str, ...] = ()
    versions: str | None = None
    unless: str | None = None
    local_users: bool = False
    software: str | None = None  # the software whose notes these are (software-first notes)

    def record(self) -> dict[str, object]:
        """This note as the JSON contract has it (`lookup --json`, `list --json`'s notes);
        `applies_to` lists the process patterns of the product it is about (empty: about the
        port itself)."""
        return {
            "severity": self.severity.value,
            "kind": self.kind,
            "title": self.title,
            "note": self.note,
            "refs": list(self.refs),
            "origin": self.origin,
            "applies_to": list(self.applies_to),
            "software": self.software,  # the software whose note it is (follows it anywhere)
            "platforms": list(self.platforms),  # os-release IDs it concerns; empty: every system
            "versions": self.versions,  # affected versions ("< 20.08.2"); null: not stated
            "unless": self.unless,  # the setting that makes it harmless, asked as a question
            "local_users": self.local_users,  # it matters to this machine's other users too
        }


@dataclass(frozen=True, slots=True)
class Software:
    """A program the catalog knows: how to recognise its process, its default ports, its notes
    (which follow it to any port)."""

    name: str
    executables: tuple[str, ...] = ()  # file names (or scripts, modules, Java classes), lower
    packages: tuple[str, ...] = ()  # names of packages that install it (dpkg, rpm)
    ports: tuple[tuple[int, int, Proto], ...] = ()  # its default ports: (low, high, proto)
    note: str = ""
    refs: tuple[str, ...] = ()
    security: tuple[SecurityNote, ...] = ()
    origin: str = "bundled"

    def as_use(self) -> KnownUse:
        """This software as a known use (when it listens on a port not among its defaults)."""
        return KnownUse(self.name, self.note, self.refs, self.origin, self.executables)


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """Everything the catalog knows about one port/proto (registry meaning, uses, security)."""

    port: int
    proto: Proto
    service: str | None = None  # IANA service name; None when unassigned
    description: str | None = None  # IANA description
    uses: tuple[KnownUse, ...] = ()
    security: tuple[SecurityNote, ...] = ()

    @property
    def registered(self) -> bool:
        return self.service is not None

    @property
    def refs(self) -> tuple[str, ...]:
        """Every reference behind this entry's facts, in order, without repeats."""
        seen: dict[str, None] = {}
        for item in (*self.uses, *self.security):
            for ref in item.refs:
                seen.setdefault(ref, None)
        return tuple(seen)
