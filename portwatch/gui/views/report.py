"""What the details pane and the lookup dialog say, built once and rendered twice: as HTML for
the read-only views (every piece escaped, only http(s) links clickable) and as plain text for
"Copy as text"."""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from portwatch.core import fields
from portwatch.core.fields import connection_text as conn_text
from portwatch.core.fields.listener_text import socket_user_text
from portwatch.core.knowledge.origin_text import origin_facts
from portwatch.core.knowledge.reach import reach_text
from portwatch.core.model import (
    FLAG_TEXT,
    PEER_SCOPE_WORDS,
    AnnotatedListener,
    CatalogEntry,
    Exposure,
    KnownUse,
    Listener,
    Peer,
    Proto,
    Risk,
    SecurityNote,
)
from portwatch.core.probe import FileDigest, PeerOwner, ProcessDetails
from portwatch.core.text import visible
from portwatch.gui.style import risk_style
from portwatch.gui.style.plain import esc

COMPUTING = "computing…"
CONTEXT_NOTE = ("(About other software: the listening process does not look like it, so"
                " this does not count toward the risk.)")
_REACH = {
    Exposure.LOOPBACK: "loopback only: only programs on this machine can connect",
    Exposure.LOCAL_NETWORK: "local network: other machines on the network of this address"
                            " can connect",
    Exposure.ALL_INTERFACES: "all interfaces: any network this machine is on can connect",
}


@dataclass(frozen=True, slots=True)
class Fact:
    """One line of a report: a label and its text; both are escaped when rendered."""

    label: str
    text: str
    detail: str = ""  # a second, quieter paragraph
    refs: tuple[str, ...] = ()
    color: str | None = None  # of the label
    mono: bool = False  # hashes, command lines, paths


@dataclass(frozen=True, slots=True)
class Section:
    title: str
    facts: tuple[Fact, ...]
    empty: str = ""  # said when there are no facts
    items: bool = False  # facts are items (uses, notes): label as a heading, not a column


@dataclass(frozen=True, slots=True)
class Report:
    title: str
    sections: tuple[Section, ...]


# --- building ---------------------------------------------------------------------------------

def entry_sections(entry: CatalogEntry | None, likely: tuple[KnownUse, ...] = (),
                   applicable: tuple[SecurityNote, ...] | None = None) -> list[Section]:
    """What the catalog knows about a port: registry, known uses, security notes. With a
    listener, `likely` are the uses that match its process (listed first) and `applicable`
    the notes that count for it; notes about other software are marked as context."""
    if entry is None:
        return [Section("Catalog", (), "The port catalog could not be loaded.")]
    where = f"port {entry.port}/{entry.proto.value}"
    if entry.registered:
        text = f"{entry.service} — {entry.description}" if entry.description else entry.service
        registry = Fact("IANA", text or "")
    else:
        registry = Fact("IANA", "not registered with IANA")
    ordered_uses = [*likely, *(use for use in entry.uses if use not in likely)]
    uses = tuple(
        Fact(use.software, use.note, refs=use.refs,
             detail=_joined(
                 "matches the listening process" if use in likely else "",
                 "" if use.origin == "bundled" else f"from your catalog file {use.origin}"))
        for use in ordered_uses
    )
    notes = tuple(
        Fact(note.severity.value.upper(), f"{note.title} ({note.kind})",
             detail=_joined(
                 note.note,
                 CONTEXT_NOTE if applicable is not None and note.applies_to
                 and note not in applicable else "",
                 "" if note.origin == "bundled" else f"from your catalog file {note.origin}"),
             refs=note.refs, color=risk_style.severity_color(note.severity))
        for note in sorted((*entry.security, *(n for n in applicable or ()
                                              if n not in entry.security)),
                           key=lambda n: -n.severity.rank)
    )
    return [
        Section(f"Registry ({where})", (registry,)),
        Section("Known uses", uses, "No software is known to use this port in particular.",
                items=True),
        Section("Security notes", notes, "Nothing is known against this port.", items=True),
    ]


def _joined(*parts: str) -> str:
    return " ".join(part for part in parts if part)


def entry_report(entry: CatalogEntry) -> Report:
    """The lookup dialog's report on one port/proto."""
    title = f"Port {entry.port}/{entry.proto.value}"
    if entry.service:
        title += f": {entry.service}"
    return Report(title, tuple(entry_sections(entry)))


def listener_title(sock: Listener) -> str:
    proc = sock.process
    owner = proc.name if proc else ("hidden owner" if sock.owner_hidden else "unknown owner")
    where = f" of {sock.host}" if sock.host is not None else ""
    return f"{owner} on {sock.proto.value.upper()} {sock.endpoint}{where}"


REMOTE_NOTE = ("read over ssh from the portwatch installed there: its risk and catalog facts"
               " are that portwatch's, and this window cannot inspect, hash or stop the process")


def listener_report(item: AnnotatedListener, *, closing: bool = False,
                    details: ProcessDetails | None = None,
                    digest: FileDigest | None = None,
                    pending: bool = True,
                    peers: Mapping[tuple[str, int], PeerOwner] | None = None) -> Report:
    """The details pane's report. `pending` means details/digest and the processes of local
    peers (`peers`, by address and port) are still being computed (None then reads
    "computing…", a peer not in `peers` "looking up…"); without it, None means not available."""
    sock = item.listener
    pending = pending and sock.host is None  # nothing is computed for another machine's
    title = listener_title(sock) + (" — closed" if closing else "")
    assessment = item.assessment
    if assessment is not None:
        risk = Fact("Risk", f"{risk_style.risk_label(assessment.risk)}: {assessment.reason}",
                    color=risk_style.risk_text_color(assessment.risk))
    else:
        risk = Fact("Risk", "unknown: the port catalog could not be loaded")
    # With a firewall verdict: the bind exposure and what the firewall does with a new
    # connection from outside ("all interfaces; the firewall drops … policy drop").
    reach = reach_text(sock, item.firewall) if item.firewall else _REACH[sock.exposure]
    overview = [risk, Fact("Reach", reach)]
    if sock.host is not None:
        overview.insert(0, Fact("Host", sock.host, detail=REMOTE_NOTE))
    if item.likely_uses and item.recognised_by:
        overview.append(Fact("Program", f"{item.likely_uses[0].software}, recognised by its"
                                        f" {item.recognised_by}"))
    provenance = sock.process.provenance if sock.process is not None else None
    found = provenance.flags if provenance is not None else ()
    extra = [flag for flag in item.flags if flag not in found]  # the Process section has those
    if extra:
        overview.append(Fact("Look twice", "; ".join(FLAG_TEXT.get(f, f) for f in extra),
                             color=risk_style.RISK_TEXT_COLORS[Risk.MEDIUM]))
    if closing:
        overview.append(Fact("Now", "this socket is no longer listening; the row goes away in"
                                    " a moment"))
    applicable = assessment.applicable if assessment is not None else None
    sections = [Section("Summary", tuple(overview))]
    if sock.proto is Proto.TCP:
        sections.append(_connections_section(item, peers or {}, pending))
    sections += entry_sections(item.entry, item.likely_uses, applicable)
    started_by = tuple(Fact(label, text) for label, text in origin_facts(sock))
    if started_by:
        sections.append(Section("Started by", started_by))
    sections.append(Section("Process", tuple(_process_facts(sock, details, digest, pending))))
    if sock.process is not None and sock.host is None:
        sections.append(_sockets_section(details, pending))
    return Report(title, tuple(sections))


def _process_facts(sock: Listener, details: ProcessDetails | None,
                   digest: FileDigest | None, pending: bool) -> Iterable[Fact]:
    proc = sock.process
    if proc is None:
        # The kernel records a user for every socket, also one no process holds (a kernel
        # socket is root's): say whose socket it is, not that a process of that user owns it.
        if sock.socket_user:
            yield Fact("Socket user", socket_user_text(sock.socket_user))
        yield Fact("Hidden", sock.hidden_reason or "unknown")
        return
    for fact in fields.process_facts(sock):  # from the field declarations
        color = risk_style.RISK_TEXT_COLORS[Risk.MEDIUM] if fact.warn else None
        yield Fact(fact.label, fact.text, mono=fact.mono, color=color)
        if fact.key == "exe" and proc.exe:  # its hash right after it
            if digest is not None:
                yield Fact("SHA-256", digest.sha256 or digest.error or "unknown", mono=True)
            else:
                yield Fact("SHA-256", COMPUTING if pending else "not computed", mono=True)
    if details is not None:
        if details.parents:
            yield Fact("Parents", " ← ".join(f"{p.name} ({p.pid})" for p in details.parents))
        for problem in details.problems:
            yield Fact("Note", problem)
    elif pending:
        yield Fact("Parents", COMPUTING)


def _peer_process(peer: Peer, owners: Mapping[tuple[str, int], PeerOwner],
                  pending: bool) -> str:
    """" — curl (pid 4242)" after a local peer's endpoint, " — looking up…" while it is
    looked up, " — unknown: <why>" when it cannot be found."""
    if peer.scope != "local" or peer.pid is not None:
        return ""
    owner = owners.get((peer.address, peer.port))
    if owner is None:
        return " — looking up…" if pending else ""
    if owner.pid is None:
        return f" — unknown: {owner.reason}"
    if owner.name is None:
        return f" — pid {owner.pid}, unknown: {owner.reason}"
    return f" — {visible(owner.name, 60)} (pid {owner.pid})"


def _connections_section(item: AnnotatedListener, owners: Mapping[tuple[str, int], PeerOwner],
                         pending: bool) -> Section:
    """Who is connected: the count, then each peer (address, port, where it is; for a peer on
    this machine, its process)."""
    title = "Connected now"
    summary = item.connections
    if summary is None:
        why = conn_text.NOT_COUNTED if item.listener.netns else (
            "unknown: not counted yet, or portwatch could not list this machine's connections")
        return Section(title, (), why)
    facts = [Fact("Connections", conn_text.connections_sentence(summary))]
    here = item.listener.host is None and item.listener.netns is None  # peers we can look up
    facts += [Fact(PEER_SCOPE_WORDS.get(peer.scope, peer.scope).capitalize(),
                   conn_text.peer_endpoint(peer) + (_peer_process(peer, owners, pending)
                                                    if here else ""),
                   mono=True) for peer in summary.peers]
    if summary.established > len(summary.peers):
        facts.append(Fact("…", f"and {summary.established - len(summary.peers)} more"))
    return Section(title, tuple(facts))


def _sockets_section(details: ProcessDetails | None, pending: bool) -> Section:
    title = "All sockets of this process"
    if details is None:
        return Section(title, (), COMPUTING if pending else "not available")
    facts = []
    for sock in details.sockets:
        where = sock.local + (f" → {sock.remote}" if sock.remote else "")
        facts.append(Fact(sock.proto.value.upper(), f"{where} {sock.status}".rstrip(), mono=True))
    if details.more_sockets:
        facts.append(Fact("…", f"and {details.more_sockets} more"))
    return Section(title, tuple(facts), "none found" if details.running else "not running")


# --- rendering --------------------------------------------------------------------------------

def _link(url: str) -> str:
    if url.startswith(("https://", "http://")):
        return f'<a href="{html.escape(url, quote=True)}">{esc(url)}</a>'
    return esc(url)


def _cell(fact: Fact) -> str:
    text = esc(fact.text)
    if fact.mono:
        text = f"<code>{text}</code>"
    if fact.detail:
        text += f"<br><span style='color:{risk_style.detail_color()}'>{esc(fact.detail)}</span>"
    if fact.refs:
        text += "<br><small>" + " &nbsp; ".join(_link(r) for r in fact.refs) + "</small>"
    return text


def _label(fact: Fact) -> str:
    color = f" color:{fact.color};" if fact.color else ""
    return f"<span style='font-weight:bold;{color}'>{esc(fact.label)}</span>"


def to_html(report: Report) -> str:
    out = [f"<h2 style='margin-bottom:4px'>{esc(report.title)}</h2>"]
    for section in report.sections:
        out.append(f"<h3 style='margin-top:10px; margin-bottom:2px'>{esc(section.title)}</h3>")
        if not section.facts:
            out.append(f"<p style='color:{risk_style.muted_color()}'>{esc(section.empty)}</p>")
        elif section.items:
            out.extend(f"<p style='margin-top:2px; margin-bottom:6px'>{_label(fact)}"
                       f" &nbsp;{_cell(fact)}</p>" for fact in section.facts)
        else:
            out.append("<table cellspacing='0' cellpadding='2'>")
            out.extend(f"<tr><td valign='top' style='padding-right:10px; white-space:nowrap'>"
                       f"{_label(fact)}</td><td valign='top'>{_cell(fact)}</td></tr>"
                       for fact in section.facts)
            out.append("</table>")
    return "\n".join(out)


def to_text(report: Report) -> str:
    lines = [visible(report.title), "=" * min(len(report.title), 72)]
    for section in report.sections:
        lines += ["", visible(section.title)]
        if not section.facts:
            lines.append(f"  {visible(section.empty)}")
        for fact in section.facts:
            lines.append(f"  {visible(fact.label)}: {visible(fact.text)}")
            if fact.detail:
                lines.append(f"      {visible(fact.detail)}")
            lines.extend(f"      {visible(ref)}" for ref in fact.refs)
    return "\n".join(lines) + "\n"
