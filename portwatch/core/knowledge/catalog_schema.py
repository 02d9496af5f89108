"""Check the shape of one curated catalog document against data/curated/SCHEMA.md and
normalise it: its top-level fields, port entries, software items and their lists (each value in
them is checked by catalog_values.py).

Used for the bundled data/curated/*.yaml (by data/build_catalog.py, which compiles them into
curated.json) and for the user's catalog.d/*.yaml (at load). Every message names the file, the
entry (its number counting from 1, and its ports) and the field, so a person can find and fix it:

    catalog.d/mine.yaml, entry 3 (ports 8080): security[0].severity must be one of info, low,
    medium, high, not 'hgih'

A checked document becomes plain, JSON-ready port entries and software:

    {"ports": [[lo, hi], ...], "protos": ["tcp", "udp"],
     "uses": [{"software", "note", "refs", "match"}],
     "security": [{"title", "severity", "kind", "note", "refs", "applies_to", <conditions>}]}
    {"software": name, "executables": [...], "packages": [...], "ports": [[lo, hi, proto]],
     "note", "refs", "security": [<notes as above>]}

<conditions> are `platforms` (os-release IDs), `versions` ("< 7.2.4"), `unless` (the setting
that makes the note harmless) and `local_users` (true: it matters on loopback too); each is
present only when set. Files written before the `software` section existed are
read unchanged: every new field is optional.

`match` (on a use) and `applies_to` (on a security note) are optional lists of process patterns:
lower-case text of 1-64 characters that portwatch looks for in the listening process's name,
executable name and command line (see SCHEMA.md). Absent, they are empty lists.

Bundled files are held to two extra rules: every use and note has at least one reference, and
every reference is an https:// URL. The user's own files may leave refs out or use http://
(an intranet wiki), since they document their own machines. A document stops being checked
once it has MAX_MESSAGES messages.
"""

from __future__ import annotations

import re
from typing import Any

from portwatch.core.knowledge.catalog_values import (
    MAX_ITEMS,
    MAX_PORT,
    MAX_PORT_ITEMS,
    Messages,
    check_field,
    format_ports,
    kind_of,
    parse_port_item,
    show,
)

SCHEMA_VERSION = 1
PROTOS = {"tcp": ["tcp"], "udp": ["udp"], "both": ["tcp", "udp"]}
MAX_ENTRIES = 5000  # entries or software items in one document

_TOP_FIELDS = ("schema", "topic", "entries", "software")
_SOFTWARE_FIELDS = ("name", "executables", "packages", "ports", "note", "refs", "security")
_CONDITION_FIELDS = ("platforms", "versions", "unless", "local_users")
_PORT_PROTO = re.compile(r"(\d+(?:\s*-\s*\d+)?)\s*/\s*(tcp|udp)")
_ENTRY_FIELDS = ("ports", "proto", "uses", "security")
_USE_FIELDS = ("software", "note", "refs", "match")
_NOTE_FIELDS = ("title", "severity", "kind", "note", "refs", "applies_to", *_CONDITION_FIELDS)


class SchemaError(ValueError):
    """A document broke the schema. `messages` holds one sentence per mistake found."""

    def __init__(self, messages: list[str]) -> None:
        self.messages = tuple(messages)
        super().__init__("; ".join(self.messages))


def check_document(data: Any, source: str, *, bundled: bool) -> list[dict[str, Any]]:
    """The normalised port entries of one parsed YAML document (None, an empty file, has
    none). `source` names the file in messages. Raises SchemaError listing the mistakes."""
    return check_catalog_file(data, source, bundled=bundled)[0]


def check_catalog_file(data: Any, source: str, *,
                       bundled: bool) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The normalised port entries and software of one parsed YAML document."""
    if data is None:
        return [], []
    msgs = Messages()
    if not isinstance(data, dict):
        raise SchemaError([f"{source}: must be a mapping with schema, topic and entries, "
                           f"not {kind_of(data)}"])
    for key in data:
        if key not in _TOP_FIELDS:
            msgs.add(f"{source}: unknown field {show(key)} (expected {', '.join(_TOP_FIELDS)})")
    if "schema" not in data:
        msgs.add(f"{source}: schema is missing (the first line should be 'schema: 1')")
    elif data["schema"] != SCHEMA_VERSION or isinstance(data["schema"], bool):
        msgs.add(f"{source}: schema {show(data['schema'])} is not supported "
                 f"(this portwatch reads schema {SCHEMA_VERSION})")
    topic = data.get("topic")
    if bundled and "topic" not in data:
        msgs.add(f"{source}: topic is missing")
    elif "topic" in data and (not isinstance(topic, str) or not topic.strip()):
        msgs.add(f"{source}: topic must be a short text, not {show(topic)}")
    entries = data.get("entries", [] if "software" in data else None)
    result: list[dict[str, Any]] = []
    software = _check_software_list(data.get("software", []), source, msgs, bundled)
    if "entries" not in data and "software" not in data:
        msgs.add(f"{source}: entries is missing (a list of ports and what is known about them)")
    elif not isinstance(entries, list):
        msgs.add(f"{source}: entries must be a list, not {kind_of(entries)}")
    elif len(entries) > MAX_ENTRIES:
        msgs.add(f"{source}: has {len(entries)} entries; at most {MAX_ENTRIES} are read")
    else:
        for number, raw in enumerate(entries, start=1):
            if msgs.full:
                break
            entry = _check_entry(raw, f"{source}, entry {number}", msgs, bundled)
            if entry is not None:
                result.append(entry)
    if msgs.items:
        raise SchemaError(msgs.items)
    return result, software


def _check_software_list(items: Any, source: str, msgs: Messages,
                         bundled: bool) -> list[dict[str, Any]]:
    if not isinstance(items, list):
        msgs.add(f"{source}: software must be a list, not {kind_of(items)}")
        return []
    if len(items) > MAX_ENTRIES:
        msgs.add(f"{source}: has {len(items)} software items; at most {MAX_ENTRIES} are read")
        return []
    result = []
    for number, raw in enumerate(items, start=1):
        where = f"{source}, software {number}"
        if not isinstance(raw, dict):
            msgs.add(f"{where}: must be a mapping with name, executables, ports, note and refs,"
                     f" not {kind_of(raw)}")
            continue
        if isinstance(raw.get("name"), str):
            where = f"{where} ({raw['name']})"
        before = len(msgs.items)
        for key in raw:
            if key not in _SOFTWARE_FIELDS:
                msgs.add(f"{where}: unknown field {show(key)} "
                         f"(expected {', '.join(_SOFTWARE_FIELDS)})")
        item = {key: check_field(raw, key, f"{where}: {key}", msgs, bundled)
                for key in ("name", "executables", "packages", "note", "refs")}
        if not item["executables"] and not item["packages"] and len(msgs.items) == before:
            msgs.add(f"{where}: needs executables (the file names of its programs) or packages")
        item["ports"] = _check_software_ports(raw.get("ports", []), where, msgs)
        item["security"] = _check_list(raw, "security", _NOTE_FIELDS, where, msgs, bundled)
        if len(msgs.items) == before:
            result.append({"software": item.pop("name"), **item})
    return result


def _check_software_ports(raw: Any, where: str, msgs: Messages) -> list[list[Any]]:
    items = raw if isinstance(raw, list) else [raw]
    result = []
    for item in items[:MAX_PORT_ITEMS]:
        found = _PORT_PROTO.fullmatch(item.strip()) if isinstance(item, str) else None
        span = parse_port_item(found[1]) if found else None
        if span is None:
            msgs.add(f"{where}: ports must be a list of \"6379/tcp\" or \"6942-6991/tcp\", "
                     f"not {show(item)}")
            return []
        result.append([*span, found[2]])
    return result


def _check_entry(raw: Any, where: str, msgs: Messages, bundled: bool) -> dict[str, Any] | None:
    if not isinstance(raw, dict):
        msgs.add(f"{where}: must be a mapping with ports, proto, uses and security, "
                 f"not {kind_of(raw)}")
        return None
    ports = None
    if "ports" not in raw:
        msgs.add(f"{where}: ports is missing")
    else:
        ports = _check_ports(raw["ports"], where, msgs)
        if ports is not None:
            where = f"{where} (ports {format_ports(ports)})"
    before = len(msgs.items)
    for key in raw:
        if key not in _ENTRY_FIELDS:
            msgs.add(f"{where}: unknown field {show(key)} (expected {', '.join(_ENTRY_FIELDS)})")
    proto = raw.get("proto")
    if "proto" not in raw:
        msgs.add(f"{where}: proto is missing (tcp, udp or both)")
    elif not isinstance(proto, str) or proto not in PROTOS:
        msgs.add(f"{where}: proto must be one of tcp, udp, both, not {show(proto)}")
    uses = _check_list(raw, "uses", _USE_FIELDS, where, msgs, bundled)
    security = _check_list(raw, "security", _NOTE_FIELDS, where, msgs, bundled)
    if "uses" not in raw and "security" not in raw and len(msgs.items) == before:
        msgs.add(f"{where}: has neither uses nor security; there is nothing to add")
    if ports is None or len(msgs.items) > before:
        return None
    return {"ports": ports, "protos": PROTOS[proto], "uses": uses, "security": security}


def _check_ports(raw: Any, where: str, msgs: Messages) -> list[list[int]] | None:
    items = raw if isinstance(raw, list) else [raw]
    if not items:
        msgs.add(f"{where}: ports must not be an empty list")
        return None
    if len(items) > MAX_PORT_ITEMS:
        msgs.add(f"{where}: ports has {len(items)} items; at most {MAX_PORT_ITEMS} are read")
        return None
    ranges = []
    for item in items:
        span = parse_port_item(item)
        if span is None:
            msgs.add(f"{where}: ports must be a port (0-{MAX_PORT}), a range like \"3127-3198\" "
                     f"or a list of them, not {show(item)}")
            return None
        ranges.append(span)
    return ranges


def _check_list(raw: dict, name: str, fields: tuple[str, ...], where: str, msgs: Messages,
                bundled: bool) -> list[dict[str, Any]]:
    if name not in raw:
        return []
    items = raw[name]
    if not isinstance(items, list):
        msgs.add(f"{where}: {name} must be a list, not {kind_of(items)}")
        return []
    if len(items) > MAX_ITEMS:
        msgs.add(f"{where}: {name} has {len(items)} items; at most {MAX_ITEMS} are read")
        return []
    result = []
    for index, item in enumerate(items):
        path = f"{name}[{index}]"
        if not isinstance(item, dict):
            msgs.add(f"{where}: {path} must be a mapping with {', '.join(fields)}, "
                     f"not {kind_of(item)}")
            continue
        for key in item:
            if key not in fields:
                msgs.add(f"{where}: {path} has unknown field {show(key)} "
                         f"(expected {', '.join(fields)})")
        checked = {key: check_field(item, key, f"{where}: {path}.{key}", msgs, bundled)
                   for key in fields}
        for key in _CONDITION_FIELDS:  # conditions are rare: kept only when set
            if key in checked and not checked[key]:
                del checked[key]
        result.append(checked)
    return result


