"""The port catalog: what a port/proto is registered for, who uses it, and what to know about it.

`load_catalog()` reads three layers and `Catalog.lookup(port, proto)` joins them:

- the IANA registry snapshot, data/registry.json (service name and description);
- the curated facts, data/curated.json (compiled from data/curated/*.yaml by
  data/build_catalog.py, so no YAML is parsed at start-up);
- the user's own facts, <config dir>/portwatch/catalog.d/*.yaml, checked against the same schema.

Facts about a port come first from the user's files, then from the bundled data; within each,
exact-port facts come before range facts (MyDoom's 3127-3198). Every fact keeps its origin
("bundled" or the user file's path). A broken user file is skipped and described in
`Catalog.problems`; user files are only ever read.

`Catalog.annotate(listener)` also tells which known uses the listening process matches (their
`match` patterns) and weighs only the security notes that apply to that process (their
`applies_to` patterns; see risk.py).
"""

from __future__ import annotations

import bisect
import enum
import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from portwatch.assets import data_file
from portwatch.core.files import paths
from portwatch.core.files.yamlfile import YamlFileError, read_yaml
from portwatch.core.knowledge.risk import assess, likely_uses, process_text
from portwatch.core.model import (
    AnnotatedListener,
    Assessment,
    CatalogEntry,
    KnownUse,
    Listener,
    ProcessInfo,
    Proto,
    SecurityNote,
    Severity,
)

log = logging.getLogger(__name__)

MAX_PORT = 65535
MAX_USER_FILE_BYTES = 1024 * 1024
MAX_CACHED_ANNOTATIONS = 4096
USER_FILE_SUFFIXES = (".yaml", ".yml")
BUNDLED = "bundled"
# Registry descriptions that mean "no service here": shown as no description at all.
_UNASSIGNED = ("unassigned", "de-registered")


class _Default(enum.Enum):
    USER_CATALOG_DIR = "the user's catalog.d"


USER_CATALOG_DIR = _Default.USER_CATALOG_DIR


class CatalogDataError(RuntimeError):
    """The bundled catalog data is missing or damaged: a packaging fault, not the user's."""


class _Facts:
    """Uses and security notes of one layer (user or bundled), indexed for lookup."""

    __slots__ = ("exact", "ranges")

    def __init__(self) -> None:
        self.exact: dict[tuple[int, Proto], tuple[list[KnownUse], list[SecurityNote]]] = {}
        self.ranges: list[tuple[int, int, Proto, list[KnownUse], list[SecurityNote]]] = []

    def add(self, entry: dict[str, Any], origin: str) -> None:
        uses = [KnownUse(u["software"], u["note"], tuple(u["refs"]), origin,
                         tuple(u.get("match", ())))
                for u in entry["uses"]]
        notes = [SecurityNote(n["title"], Severity(n["severity"]), n["kind"], n["note"],
                              tuple(n["refs"]), origin, tuple(n.get("applies_to", ())))
                 for n in entry["security"]]
        for proto_name in entry["protos"]:
            proto = Proto(proto_name)
            for low, high in entry["ports"]:
                if low == high:
                    have_uses, have_notes = self.exact.setdefault((low, proto), ([], []))
                    have_uses.extend(uses)
                    have_notes.extend(notes)
                else:
                    self.ranges.append((low, high, proto, uses, notes))

    def collect(self, port: int, proto: Proto, uses: list, notes: list) -> None:
        found = self.exact.get((port, proto))
        if found:
            uses.extend(found[0])
            notes.extend(found[1])
        for low, high, range_proto, range_uses, range_notes in self.ranges:
            if low <= port <= high and range_proto is proto:
                uses.extend(range_uses)
                notes.extend(range_notes)


class Catalog:
    """Registry meaning and curated facts for every port; immutable once loaded."""

    def __init__(self, registry_rows: list[list], layers: Iterable[_Facts],
                 problems: Iterable[str] = ()) -> None:
        self._rows = registry_rows  # [port, "tcp/udp", name, description], sorted by port
        self._layers = tuple(layers)  # user first, then bundled
        self._cache: dict[tuple[int, Proto], CatalogEntry] = {}
        # (port, proto, exposure, process text) -> (likely uses, assessment): a service that
        # restarts, or many workers of one server, are matched once.
        self._annotations: dict[tuple, tuple[tuple[KnownUse, ...], Assessment]] = {}
        self.problems: tuple[str, ...] = tuple(problems)

    def lookup(self, port: int, proto: Proto | str) -> CatalogEntry:
        """Everything known about port/proto. A port nobody registered gives an entry with
        service None. Raises ValueError for a port outside 0-65535 or an unknown protocol."""
        proto = Proto(proto)
        if isinstance(port, bool) or not isinstance(port, int):
            raise TypeError(f"port must be an int, not {type(port).__name__}")
        if not 0 <= port <= MAX_PORT:
            raise ValueError(f"port {port} is outside 0-{MAX_PORT}")
        key = (port, proto)
        entry = self._cache.get(key)
        if entry is None:
            service, description = self._registry(port, proto)
            uses: list[KnownUse] = []
            notes: list[SecurityNote] = []
            for layer in self._layers:
                layer.collect(port, proto, uses, notes)
            entry = CatalogEntry(port, proto, service, description, tuple(uses), tuple(notes))
            self._cache[key] = entry
        return entry

    def annotate(self, listener: Listener) -> AnnotatedListener:
        """The listener with its catalog entry, the known uses its process matches, and the
        risk of the notes that apply to that process at its exposure (see risk.py)."""
        entry = self.lookup(listener.port, listener.proto)
        process = listener.process
        inner = listener.container.inner_process if listener.container else None
        if inner and process is not None:  # a forwarder: judge the program that answers
            process = ProcessInfo(process.pid, inner)
        text = process_text(process)
        key = (listener.port, listener.proto, listener.exposure, text)
        found = self._annotations.get(key)
        if found is None:
            if len(self._annotations) >= MAX_CACHED_ANNOTATIONS:
                self._annotations.clear()  # a flood of distinct command lines: start over
            found = (likely_uses(entry, text), assess(entry, listener.exposure,
                                                      process if text else None))
            self._annotations[key] = found
        likely, assessment = found
        return AnnotatedListener(listener, entry, assessment, likely)

    def _registry(self, port: int, proto: Proto) -> tuple[str | None, str | None]:
        rows = self._rows
        index = bisect.bisect_left(rows, port, key=_row_port)
        while index < len(rows) and rows[index][0] == port:
            _, protos, name, description = rows[index]
            if proto.value in protos.split("/"):
                if not name and description.lower().startswith(_UNASSIGNED):
                    description = ""
                return name or None, description or None
            index += 1
        return None, None


def _row_port(row: list) -> int:
    return row[0]


def load_catalog(user_dir: Path | _Default | None = USER_CATALOG_DIR) -> Catalog:
    """The bundled catalog plus the user's catalog.d/*.yaml (None: bundled data only).

    Broken user files are skipped and described in `problems`; a missing or damaged bundled
    file raises CatalogDataError.
    """
    if user_dir is USER_CATALOG_DIR:
        user_dir = paths.user_catalog_dir()
    registry = _load_bundled_json("registry.json")
    curated = _load_bundled_json("curated.json")
    bundled = _Facts()
    try:
        for entry in curated["entries"]:
            bundled.add(entry, BUNDLED)
        rows = registry["rows"]
    except (KeyError, TypeError, ValueError) as exc:
        raise CatalogDataError(f"the bundled catalog data is damaged ({exc!r}); "
                               "reinstall portwatch") from exc
    problems: list[str] = []
    layers = [bundled]
    if user_dir is not None:
        user = _load_user_dir(Path(user_dir), problems)
        if user is not None:
            layers.insert(0, user)
    return Catalog(rows, layers, problems)


def _load_bundled_json(name: str) -> dict[str, Any]:
    try:
        data = json.loads(data_file(name).read_bytes())
    except (OSError, ValueError) as exc:
        raise CatalogDataError(f"cannot read the bundled catalog file {name} ({exc}); "
                               "reinstall portwatch") from exc
    if not isinstance(data, dict) or data.get("format") != 1:
        raise CatalogDataError(f"the bundled catalog file {name} has an unknown format; "
                               "reinstall portwatch")
    return data


def _load_user_dir(directory: Path, problems: list[str]) -> _Facts | None:
    try:
        if not directory.exists():
            return None
        files = sorted(p for p in directory.iterdir()
                       if p.suffix in USER_FILE_SUFFIXES and not p.name.startswith("."))
    except OSError as exc:
        problems.append(f"{directory}: cannot list your catalog files ({_reason(exc)}); "
                        "they were skipped.")
        return None
    if not files:
        return None
    from portwatch.core.knowledge.catalog_schema import SchemaError, check_document

    facts = _Facts()
    for path in files:
        try:
            data = read_yaml(path, kind="catalog file", max_bytes=MAX_USER_FILE_BYTES)
            entries = check_document(data, str(path), bundled=False)
        except YamlFileError as exc:
            problems.append(f"{path}: {exc}; it was skipped.")
            continue
        except SchemaError as exc:
            problems.extend(f"{message} (the file was skipped)" for message in exc.messages)
            continue
        for entry in entries:
            facts.add(entry, str(path))
        log.debug("read %d catalog entries from %s", len(entries), path)
    return facts


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)
