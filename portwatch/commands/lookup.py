"""`portwatch lookup PORT|NAME[/tcp|/udp] ... [--json]`: what the catalog knows about ports
(no scan). A NAME (redis, devpi) stands for the ports registered under it or where software of
that name is known to listen."""

from __future__ import annotations

import argparse
import json
import re
import sys
import textwrap

from portwatch.core.knowledge.catalog import MAX_PORT, Catalog, load_catalog
from portwatch.core.model import CatalogEntry, Proto
from portwatch.core.text import visible

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (≈ 4 ms of `lookup`)
if TYPE_CHECKING:
    from typing import Any, TextIO

BOTH = (Proto.TCP, Proto.UDP)
KIND_LABELS = {
    "malware-history": "malware history",
    "exposure": "exposure",
    "vulnerability": "vulnerability",
    "amplification": "DDoS amplification",
}


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "lookup",
        help="what a port is registered for, who uses it and what to know about it",
        description="What the catalog knows about ports, without scanning: the IANA registration,"
        " software known to listen there and security notes, each with its sources. A port"
        " without /tcp or /udp is looked up for both. A name (redis, devpi, ssh) looks up the"
        " ports IANA registered under that service name and those where software of that name"
        " is known to listen.",
    )
    parser.add_argument("ports", nargs="+", metavar="PORT|NAME[/tcp|/udp]", type=port_spec,
                        help="a port number 0-65535 or a service or software name, e.g. 3141,"
                        " 53/udp, redis, devpi")
    parser.add_argument("--json", action="store_true",
                        help="print a JSON array of catalog entries, each with port, proto,"
                        " registered, service, description, uses (as text), uses_detail (each"
                        " software, note, refs, origin, match), security (each severity, kind,"
                        " title, note, refs, origin, applies_to) and refs")
    parser.set_defaults(run=run)


# A service or software name as people type it: redis, devpi-server, http-alt, node.js
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9._+-]{0,63}")


def port_spec(text: str) -> tuple[int | str, tuple[Proto, ...]]:
    """"53/udp" -> (53, (udp,)); "22" -> (22, (tcp, udp)); "redis" -> ("redis", (tcp, udp)).
    argparse shows the error messages."""
    number, slash, proto_text = text.strip().partition("/")
    number = number.strip()
    protos = BOTH
    if slash:
        try:
            protos = (Proto(proto_text.strip().lower()),)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r}: the protocol must be tcp or udp, not {proto_text!r}") from None
    if _NAME.fullmatch(number):
        return number, protos
    if not number.isdecimal():
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a port: write a number from 0 to {MAX_PORT} or a service name,"
            " optionally followed by /tcp or /udp")
    port = int(number)
    if port > MAX_PORT:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a port: port numbers go from 0 to {MAX_PORT}")
    return port, protos


def resolve(catalog: Catalog, query: int | str,
            protos: tuple[Proto, ...]) -> list[tuple[int, tuple[Proto, ...]]]:
    """The (port, protos) a query stands for: a number itself; a name, the ports known by it
    (each with the protocols it is known for, among `protos`)."""
    if isinstance(query, int):
        return [(query, protos)]
    found: dict[int, list[Proto]] = {}
    for port, proto in catalog.ports_named(query):
        if proto in protos:
            found.setdefault(port, []).append(proto)
    return [(port, tuple(found_protos)) for port, found_protos in found.items()]


def run(args: argparse.Namespace) -> int:
    from portwatch.cli import UserError, terminal_columns  # late: cli imports this module

    catalog = load_catalog()
    for problem in catalog.problems:
        print(f"portwatch: {problem}", file=sys.stderr)
    width = max(40, min(terminal_columns(), 100))
    headings: list[str | None] = []
    queries: list[tuple[int, tuple[Proto, ...]]] = []
    for query, protos in args.ports:
        ports = resolve(catalog, query, protos)
        if not ports:
            which = "" if protos == BOTH else f"{protos[0].value} "
            raise UserError(f"no {which}port is known by the name {query!r} (neither an IANA"
                            " service name nor software the catalog knows); try a number")
        if isinstance(query, str):
            places = ", ".join(f"{port}/{'+'.join(p.value for p in found)}"
                               for port, found in ports)
            headings.append(_wrap(f"{query}: {places}", width, "", "  "))
            headings.extend([None] * (len(ports) - 1))
        else:
            headings.append(None)
        queries.extend(ports)
    groups = [[catalog.lookup(port, proto) for proto in protos] for port, protos in queries]
    if args.json:
        from portwatch.core.output import records  # the field declarations: --json only

        items = [records.entry_record(entry) for group in groups for entry in group]
        json.dump(items, sys.stdout, indent=1, ensure_ascii=False)
        sys.stdout.write("\n")
        return 0
    for number, (heading, group) in enumerate(zip(headings, groups, strict=True)):
        if number:
            sys.stdout.write("\n")
        if heading:
            sys.stdout.write(heading + "\n")
        write_group(group, sys.stdout, width)
    return 0


def write_group(entries: list[CatalogEntry], out: TextIO, width: int = 80) -> None:
    """One port's entries; tcp and udp share one block when they say exactly the same."""
    if len(entries) == 2 and _same_facts(*entries):
        write_entry(entries[0], out, width, label=f"{entries[0].port}/tcp and udp")
        return
    for number, entry in enumerate(entries):
        if number:
            out.write("\n")
        write_entry(entry, out, width)


def _same_facts(first: CatalogEntry, second: CatalogEntry) -> bool:
    return (first.service, first.description, first.uses, first.security) == (
        second.service, second.description, second.uses, second.security)


def write_entry(entry: CatalogEntry, out: TextIO, width: int = 80,
                label: str | None = None) -> None:
    """A person-readable description of one entry, wrapped to `width` columns."""
    label = label or f"{entry.port}/{entry.proto.value}"
    if entry.registered:
        meaning = f"IANA name: {visible(entry.service)}"
        if entry.description and entry.description != entry.service:
            meaning += f" ({visible(entry.description)})"
    else:
        meaning = "not registered with IANA"
        if entry.description:
            meaning += f" (the registry lists it as “{visible(entry.description)}”)"
    out.write(_wrap(f"{label} — {meaning}", width, "", "    "))
    if not entry.uses and not entry.security:
        out.write(_wrap("The catalog has no known uses or security notes for it.", width,
                        "  ", "  "))
        return
    if entry.uses:
        out.write("  Known uses:\n")
        for use in entry.uses:
            out.write(_wrap(visible(use.text), width, "  - ", "    "))
            _write_sources(use.refs, use.origin, out, width)
    if entry.security:
        out.write("  Security notes:\n")
        for note in entry.security:
            kind = KIND_LABELS.get(note.kind, note.kind)
            head = f"[{note.severity.value}] {kind}: {visible(note.title)}"
            out.write(_wrap(head, width, "  - ", "    "))
            out.write(_wrap(visible(note.note), width, "    ", "    "))
            if note.applies_to:  # about one product: which processes it concerns
                out.write(_wrap("applies to: " + ", ".join(visible(p) for p in note.applies_to),
                                width, "    ", "      "))
            for label, value in (("only on", ", ".join(note.platforms)),
                                 ("versions", note.versions), ("unless", note.unless),
                                 ("matters on loopback too", "other users of this machine"
                                  if note.local_users else None)):
                if value:
                    out.write(_wrap(f"{label}: {visible(value)}", width, "    ", "      "))
            _write_sources(note.refs, note.origin, out, width)


def _write_sources(refs: tuple[str, ...], origin: str, out: TextIO, width: int) -> None:
    for ref in refs:
        out.write(_wrap(f"source: {visible(ref)}", width, "      ", "        "))
    if origin != "bundled":
        out.write(_wrap(f"(from your catalog file {visible(origin)})", width, "      ",
                        "        "))


def _wrap(text: str, width: int, first: str, rest: str) -> str:
    lines = textwrap.wrap(text, width=width, initial_indent=first, subsequent_indent=rest,
                          break_long_words=False, break_on_hyphens=False)
    return "\n".join(lines) + "\n"
