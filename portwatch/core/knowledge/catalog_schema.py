"""Check one curated catalog document against data/curated/SCHEMA.md and normalise it.

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
(an intranet wiki), since they document their own machines.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from portwatch.core.knowledge.versions import condition_problem
from portwatch.core.model import Severity

SCHEMA_VERSION = 1
SEVERITIES = tuple(item.value for item in Severity)
KINDS = ("malware-history", "exposure", "vulnerability", "amplification")
PROTOS = {"tcp": ["tcp"], "udp": ["udp"], "both": ["tcp", "udp"]}
MAX_PORT = 65535

# Limits keep a hostile or runaway file (a YAML alias bomb) from making the loader hang.
MAX_ENTRIES = 5000
MAX_ITEMS = 100  # uses, security notes or refs in one list
MAX_PORT_ITEMS = 1000  # ports/ranges in one entry
MAX_TEXT = 4000  # characters in one text field
MAX_MESSAGES = 10  # messages reported per document

_TOP_FIELDS = ("schema", "topic", "entries", "software")
_SOFTWARE_FIELDS = ("name", "executables", "packages", "ports", "note", "refs", "security")
_CONDITION_FIELDS = ("platforms", "versions", "unless", "local_users")
_PORT_PROTO = re.compile(r"(\d+(?:\s*-\s*\d+)?)\s*/\s*(tcp|udp)")
_ENTRY_FIELDS = ("ports", "proto", "uses", "security")
_USE_FIELDS = ("software", "note", "refs", "match")
_NOTE_FIELDS = ("title", "severity", "kind", "note", "refs", "applies_to", *_CONDITION_FIELDS)
_PATTERN_FIELDS = ("match", "applies_to", "executables", "packages", "platforms")
MAX_PATTERN = 64  # characters in one process pattern
_RANGE = re.compile(r"(\d+)\s*-\s*(\d+)")


class SchemaError(ValueError):
    """A document broke the schema. `messages` holds one sentence per mistake found."""

    def __init__(self, messages: list[str]) -> None:
        self.messages = tuple(messages)
        super().__init__("; ".join(self.messages))


class _Messages:
    """Collects messages; stops the check once there are more than a person will read."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, text: str) -> None:
        self.items.append(text)

    @property
    def full(self) -> bool:
        return len(self.items) >= MAX_MESSAGES


def check_document(data: Any, source: str, *, bundled: bool) -> list[dict[str, Any]]:
    """The normalised port entries of one parsed YAML document (None, an empty file, has
    none). `source` names the file in messages. Raises SchemaError listing the mistakes."""
    return check_catalog_file(data, source, bundled=bundled)[0]


def check_catalog_file(data: Any, source: str, *,
                       bundled: bool) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The normalised port entries and software of one parsed YAML document."""
    if data is None:
        return [], []
    msgs = _Messages()
    if not isinstance(data, dict):
        raise SchemaError([f"{source}: must be a mapping with schema, topic and entries, "
                           f"not {_kind(data)}"])
    for key in data:
        if key not in _TOP_FIELDS:
            msgs.add(f"{source}: unknown field {_show(key)} (expected {', '.join(_TOP_FIELDS)})")
    if "schema" not in data:
        msgs.add(f"{source}: schema is missing (the first line should be 'schema: 1')")
    elif data["schema"] != SCHEMA_VERSION or isinstance(data["schema"], bool):
        msgs.add(f"{source}: schema {_show(data['schema'])} is not supported "
                 f"(this portwatch reads schema {SCHEMA_VERSION})")
    topic = data.get("topic")
    if bundled and "topic" not in data:
        msgs.add(f"{source}: topic is missing")
    elif "topic" in data and (not isinstance(topic, str) or not topic.strip()):
        msgs.add(f"{source}: topic must be a short text, not {_show(topic)}")
    entries = data.get("entries", [] if "software" in data else None)
    result: list[dict[str, Any]] = []
    software = _check_software_list(data.get("software", []), source, msgs, bundled)
    if "entries" not in data and "software" not in data:
        msgs.add(f"{source}: entries is missing (a list of ports and what is known about them)")
    elif not isinstance(entries, list):
        msgs.add(f"{source}: entries must be a list, not {_kind(entries)}")
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


def _check_software_list(items: Any, source: str, msgs: _Messages,
                         bundled: bool) -> list[dict[str, Any]]:
    if not isinstance(items, list):
        msgs.add(f"{source}: software must be a list, not {_kind(items)}")
        return []
    if len(items) > MAX_ENTRIES:
        msgs.add(f"{source}: has {len(items)} software items; at most {MAX_ENTRIES} are read")
        return []
    result = []
    for number, raw in enumerate(items, start=1):
        where = f"{source}, software {number}"
        if not isinstance(raw, dict):
            msgs.add(f"{where}: must be a mapping with name, executables, ports, note and refs,"
                     f" not {_kind(raw)}")
            continue
        if isinstance(raw.get("name"), str):
            where = f"{where} ({raw['name']})"
        before = len(msgs.items)
        for key in raw:
            if key not in _SOFTWARE_FIELDS:
                msgs.add(f"{where}: unknown field {_show(key)} "
                         f"(expected {', '.join(_SOFTWARE_FIELDS)})")
        item = {key: _check_field(raw, key, f"{where}: {key}", msgs, bundled)
                for key in ("name", "executables", "packages", "note", "refs")}
        if not item["executables"] and not item["packages"] and len(msgs.items) == before:
            msgs.add(f"{where}: needs executables (the file names of its programs) or packages")
        item["ports"] = _check_software_ports(raw.get("ports", []), where, msgs)
        item["security"] = _check_list(raw, "security", _NOTE_FIELDS, where, msgs, bundled)
        if len(msgs.items) == before:
            result.append({"software": item.pop("name"), **item})
    return result


def _check_software_ports(raw: Any, where: str, msgs: _Messages) -> list[list[Any]]:
    items = raw if isinstance(raw, list) else [raw]
    result = []
    for item in items[:MAX_PORT_ITEMS]:
        found = _PORT_PROTO.fullmatch(item.strip()) if isinstance(item, str) else None
        span = _parse_port_item(found[1]) if found else None
        if span is None:
            msgs.add(f"{where}: ports must be a list of \"6379/tcp\" or \"6942-6991/tcp\", "
                     f"not {_show(item)}")
            return []
        result.append([*span, found[2]])
    return result


def _check_entry(raw: Any, where: str, msgs: _Messages, bundled: bool) -> dict[str, Any] | None:
    if not isinstance(raw, dict):
        msgs.add(f"{where}: must be a mapping with ports, proto, uses and security, "
                 f"not {_kind(raw)}")
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
            msgs.add(f"{where}: unknown field {_show(key)} (expected {', '.join(_ENTRY_FIELDS)})")
    proto = raw.get("proto")
    if "proto" not in raw:
        msgs.add(f"{where}: proto is missing (tcp, udp or both)")
    elif not isinstance(proto, str) or proto not in PROTOS:
        msgs.add(f"{where}: proto must be one of tcp, udp, both, not {_show(proto)}")
    uses = _check_list(raw, "uses", _USE_FIELDS, where, msgs, bundled)
    security = _check_list(raw, "security", _NOTE_FIELDS, where, msgs, bundled)
    if "uses" not in raw and "security" not in raw and len(msgs.items) == before:
        msgs.add(f"{where}: has neither uses nor security; there is nothing to add")
    if ports is None or len(msgs.items) > before:
        return None
    return {"ports": ports, "protos": PROTOS[proto], "uses": uses, "security": security}


def _check_ports(raw: Any, where: str, msgs: _Messages) -> list[list[int]] | None:
    items = raw if isinstance(raw, list) else [raw]
    if not items:
        msgs.add(f"{where}: ports must not be an empty list")
        return None
    if len(items) > MAX_PORT_ITEMS:
        msgs.add(f"{where}: ports has {len(items)} items; at most {MAX_PORT_ITEMS} are read")
        return None
    ranges = []
    for item in items:
        span = _parse_port_item(item)
        if span is None:
            msgs.add(f"{where}: ports must be a port (0-{MAX_PORT}), a range like \"3127-3198\" "
                     f"or a list of them, not {_show(item)}")
            return None
        ranges.append(span)
    return ranges


def _parse_port_item(item: Any) -> list[int] | None:
    if isinstance(item, int) and not isinstance(item, bool):
        low = high = item
    elif isinstance(item, str) and item.strip().isdecimal():
        low = high = int(item)
    elif isinstance(item, str) and (match := _RANGE.fullmatch(item.strip())):
        low, high = int(match[1]), int(match[2])
    else:
        return None
    if not 0 <= low <= high <= MAX_PORT:
        return None
    return [low, high]


def format_ports(ranges: list[list[int]]) -> str:
    """[[8080, 8080], [3127, 3198]] -> "8080, 3127-3198"."""
    return ", ".join(str(low) if low == high else f"{low}-{high}" for low, high in ranges)


def _check_list(raw: dict, name: str, fields: tuple[str, ...], where: str, msgs: _Messages,
                bundled: bool) -> list[dict[str, Any]]:
    if name not in raw:
        return []
    items = raw[name]
    if not isinstance(items, list):
        msgs.add(f"{where}: {name} must be a list, not {_kind(items)}")
        return []
    if len(items) > MAX_ITEMS:
        msgs.add(f"{where}: {name} has {len(items)} items; at most {MAX_ITEMS} are read")
        return []
    result = []
    for index, item in enumerate(items):
        path = f"{name}[{index}]"
        if not isinstance(item, dict):
            msgs.add(f"{where}: {path} must be a mapping with {', '.join(fields)}, "
                     f"not {_kind(item)}")
            continue
        for key in item:
            if key not in fields:
                msgs.add(f"{where}: {path} has unknown field {_show(key)} "
                         f"(expected {', '.join(fields)})")
        checked = {key: _check_field(item, key, f"{where}: {path}.{key}", msgs, bundled)
                   for key in fields}
        for key in _CONDITION_FIELDS:  # conditions are rare: kept only when set
            if key in checked and not checked[key]:
                del checked[key]
        result.append(checked)
    return result


def _check_field(item: dict, key: str, where: str, msgs: _Messages, bundled: bool) -> Any:
    value = item.get(key)
    if key == "refs":
        return _check_refs(value, key in item, where, msgs, bundled)
    if key in _PATTERN_FIELDS:
        return _check_patterns(value, key in item, where, msgs)
    if key in ("versions", "unless") and key not in item:
        return None
    if key == "local_users":
        if value not in (None, True, False):
            msgs.add(f"{where} must be true or false, not {_show(value)}")
        return value is True
    if key == "versions" and isinstance(value, str) and (problem := condition_problem(value)):
        msgs.add(f"{where} {problem}")
        return None
    if key not in item:
        if key == "note" and ("software" in item or "name" in item):  # just the name is fine
            return ""
        msgs.add(f"{where} is missing")
        return ""
    if key == "severity":
        if value not in SEVERITIES:
            msgs.add(f"{where} must be one of {', '.join(SEVERITIES)}, not {_show(value)}")
        return value
    if key == "kind":
        if value not in KINDS:
            msgs.add(f"{where} must be one of {', '.join(KINDS)}, not {_show(value)}")
        return value
    if not isinstance(value, str) or not value.strip():
        msgs.add(f"{where} must be a non-empty text, not {_show(value)}")
        return ""
    if len(value) > MAX_TEXT:
        msgs.add(f"{where} is {len(value)} characters long; at most {MAX_TEXT} are read")
        return ""
    return " ".join(value.split())  # folded YAML and stray line breaks become one paragraph


def _check_refs(value: Any, present: bool, where: str, msgs: _Messages,
                bundled: bool) -> list[str]:
    if not present:
        if bundled:
            msgs.add(f"{where} is missing (every fact needs at least one https:// source)")
        return []
    if not isinstance(value, list):
        msgs.add(f"{where} must be a list of URLs, not {_kind(value)}")
        return []
    if bundled and not value:
        msgs.add(f"{where} must not be empty (every fact needs at least one https:// source)")
    if len(value) > MAX_ITEMS:
        msgs.add(f"{where} has {len(value)} items; at most {MAX_ITEMS} are read")
        return []
    refs = []
    for index, url in enumerate(value):
        problem = url_problem(url, https_only=bundled)
        if problem:
            msgs.add(f"{where}[{index}] {problem}")
        else:
            refs.append(url)
    return refs


def _check_patterns(value: Any, present: bool, where: str, msgs: _Messages) -> list[str]:
    if not present:
        return []
    if not isinstance(value, list) or not value:
        shown = "an empty list" if isinstance(value, list) else _show(value)
        msgs.add(f"{where} must be a non-empty list of process patterns such as "
                 f"[redis-server], not {shown}")
        return []
    if len(value) > MAX_ITEMS:
        msgs.add(f"{where} has {len(value)} items; at most {MAX_ITEMS} are read")
        return []
    patterns: list[str] = []
    for index, pattern in enumerate(value):
        problem = pattern_problem(pattern)
        if problem:
            msgs.add(f"{where}[{index}] {problem}")
        elif pattern not in patterns:
            patterns.append(pattern)
    return patterns


def pattern_problem(pattern: Any) -> str | None:
    """Why `pattern` cannot be a process pattern (None when it can): it must be lower-case text
    of 1-64 characters, without line breaks or other control characters, that does not start
    or end with a space."""
    if not isinstance(pattern, str):
        return f"must be a text (a process name or part of a command line), not {_show(pattern)}"
    if not pattern.strip():
        return "must not be empty"
    if len(pattern) > MAX_PATTERN:
        return f"is {len(pattern)} characters long; a pattern has at most {MAX_PATTERN}"
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in pattern):
        return f"must not contain line breaks or control characters: {_show(pattern)}"
    if pattern != pattern.strip():
        return f"must not start or end with a space: {_show(pattern)}"
    if pattern != pattern.lower():
        return f"must be lower case (matching ignores case): write {_show(pattern.lower())}"
    return None


def url_problem(url: Any, *, https_only: bool = True) -> str | None:
    """Why `url` is not a well-formed web address (None when it is): an http(s) scheme (https
    only when `https_only`), a host name with a dot, no spaces or control characters."""
    schemes = ("https",) if https_only else ("https", "http")
    wanted = " or ".join(f"{scheme}://" for scheme in schemes)
    if not isinstance(url, str):
        return f"must be a URL ({wanted}...), not {_show(url)}"
    if not url or any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        return f"must be a URL without spaces, not {_show(url)}"
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return f"is not a well-formed URL: {_show(url)}"
    if parts.scheme not in schemes:
        return f"must start with {wanted}, not {_show(url)}"
    if "." not in host or host.startswith(".") or host.endswith("."):
        return f"must name a host such as example.org, not {_show(url)}"
    return None


def _kind(value: Any) -> str:
    names = {dict: "a mapping", list: "a list", str: "a text", bool: "true/false",
             int: "a number", float: "a number", type(None): "nothing"}
    return names.get(type(value), type(value).__name__)


def _show(value: Any) -> str:
    if value is None:
        return "empty"
    text = repr(value) if isinstance(value, str) else str(value)
    if isinstance(value, dict | list):
        text = _kind(value)
    return text if len(text) <= 60 else text[:59] + "…"
