"""Checks of single values in a curated catalog document (catalog_schema.py checks its shape).

A text, a severity, a kind, a condition (`local_users`, `versions`), the refs (web addresses:
https:// only in the bundled files), the process patterns (`match`, `applies_to`,
`executables`, `packages`, `platforms`) and a port or range each become their normalised value
or add one sentence to `Messages`. The limits here keep a hostile or runaway file (a YAML alias
bomb) from making the loader hang; `show` and `kind_of` put the offending value into a message,
short enough to read.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from portwatch.core.knowledge.versions import condition_problem
from portwatch.core.model import Severity

SEVERITIES = tuple(item.value for item in Severity)
KINDS = ("malware-history", "exposure", "vulnerability", "amplification")
MAX_PORT = 65535

# Limits keep a hostile or runaway file (a YAML alias bomb) from making the loader hang.
MAX_ITEMS = 100  # uses, security notes or refs in one list
MAX_PORT_ITEMS = 1000  # ports/ranges in one entry
MAX_TEXT = 4000  # characters in one text field
MAX_MESSAGES = 10  # messages reported per document
MAX_PATTERN = 64  # characters in one process pattern

_PATTERN_FIELDS = ("match", "applies_to", "executables", "packages", "platforms")
_RANGE = re.compile(r"(\d+)\s*-\s*(\d+)")


class Messages:
    """Collects messages; stops the check once there are more than a person will read."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, text: str) -> None:
        self.items.append(text)

    @property
    def full(self) -> bool:
        return len(self.items) >= MAX_MESSAGES


def parse_port_item(item: Any) -> list[int] | None:
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


def check_field(item: dict, key: str, where: str, msgs: Messages, bundled: bool) -> Any:
    value = item.get(key)
    if key == "refs":
        return _check_refs(value, key in item, where, msgs, bundled)
    if key in _PATTERN_FIELDS:
        return _check_patterns(value, key in item, where, msgs)
    if key in ("versions", "unless") and key not in item:
        return None
    if key == "local_users":
        if value not in (None, True, False):
            msgs.add(f"{where} must be true or false, not {show(value)}")
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
            msgs.add(f"{where} must be one of {', '.join(SEVERITIES)}, not {show(value)}")
        return value
    if key == "kind":
        if value not in KINDS:
            msgs.add(f"{where} must be one of {', '.join(KINDS)}, not {show(value)}")
        return value
    if not isinstance(value, str) or not value.strip():
        msgs.add(f"{where} must be a non-empty text, not {show(value)}")
        return ""
    if len(value) > MAX_TEXT:
        msgs.add(f"{where} is {len(value)} characters long; at most {MAX_TEXT} are read")
        return ""
    return " ".join(value.split())  # folded YAML and stray line breaks become one paragraph


def _check_refs(value: Any, present: bool, where: str, msgs: Messages,
                bundled: bool) -> list[str]:
    if not present:
        if bundled:
            msgs.add(f"{where} is missing (every fact needs at least one https:// source)")
        return []
    if not isinstance(value, list):
        msgs.add(f"{where} must be a list of URLs, not {kind_of(value)}")
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


def _check_patterns(value: Any, present: bool, where: str, msgs: Messages) -> list[str]:
    if not present:
        return []
    if not isinstance(value, list) or not value:
        shown = "an empty list" if isinstance(value, list) else show(value)
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
        return f"must be a text (a process name or part of a command line), not {show(pattern)}"
    if not pattern.strip():
        return "must not be empty"
    if len(pattern) > MAX_PATTERN:
        return f"is {len(pattern)} characters long; a pattern has at most {MAX_PATTERN}"
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in pattern):
        return f"must not contain line breaks or control characters: {show(pattern)}"
    if pattern != pattern.strip():
        return f"must not start or end with a space: {show(pattern)}"
    if pattern != pattern.lower():
        return f"must be lower case (matching ignores case): write {show(pattern.lower())}"
    return None


def url_problem(url: Any, *, https_only: bool = True) -> str | None:
    """Why `url` is not a well-formed web address (None when it is): an http(s) scheme (https
    only when `https_only`), a host name with a dot, no spaces or control characters."""
    schemes = ("https",) if https_only else ("https", "http")
    wanted = " or ".join(f"{scheme}://" for scheme in schemes)
    if not isinstance(url, str):
        return f"must be a URL ({wanted}...), not {show(url)}"
    if not url or any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        return f"must be a URL without spaces, not {show(url)}"
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return f"is not a well-formed URL: {show(url)}"
    if parts.scheme not in schemes:
        return f"must start with {wanted}, not {show(url)}"
    if "." not in host or host.startswith(".") or host.endswith("."):
        return f"must name a host such as example.org, not {show(url)}"
    return None


def kind_of(value: Any) -> str:
    names = {dict: "a mapping", list: "a list", str: "a text", bool: "true/false",
             int: "a number", float: "a number", type(None): "nothing"}
    return names.get(type(value), type(value).__name__)


def show(value: Any) -> str:
    if value is None:
        return "empty"
    text = repr(value) if isinstance(value, str) else str(value)
    if isinstance(value, dict | list):
        text = kind_of(value)
    return text if len(text) <= 60 else text[:59] + "…"
