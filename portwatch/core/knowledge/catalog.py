"""The port catalog: what a port/proto is registered for, who uses it, and what to know about it.

`load_catalog()` reads three layers and `Catalog.lookup(port, proto)` joins them:

- the IANA registry snapshot, data/registry.json (service name and description);
- the curated facts, data/curated.json (compiled from data/curated/*.yaml by
  data/build_catalog.py, so no YAML is parsed at start-up);
- the user's own facts, <config dir>/portwatch/catalog.d/*.yaml, checked against the same schema.

The two bundled files are read through a compact index kept in the data directory when one
made from them is there (catalog_index.py: a port's facts are parsed when it is first asked
for, so `lookup` parses almost nothing); else parsed whole, and the index written for next time.

Facts about a port come first from the user's files, then from the bundled data; within each,
exact-port facts come before range facts (MyDoom's 3127-3198). Every fact keeps its origin
("bundled" or the user file's path). A broken user file is skipped and described in
`Catalog.problems`; user files are only ever read.

The catalog is software-first: besides ports it knows software (how to recognise its process,
its default ports, its notes). `Catalog.annotate(listener)` recognises the program the process
is, on any port (recognition.py), and weighs that software's notes with the port's own notes
by the written policy of risk.py. A software's default ports list it as a known use.

What portwatch can see of the system for conditional notes (the distribution's os-release IDs,
the ephemeral port range) is read once at load.
"""

from __future__ import annotations

import bisect
import dataclasses
import enum
import json
import logging
import re
from collections.abc import Callable, Iterable
from pathlib import Path

from portwatch.assets import data_file
from portwatch.core import model
from portwatch.core.files import paths
from portwatch.core.files.yamlfile import YamlFileError, read_yaml
from portwatch.core.knowledge import catalog_index
from portwatch.core.knowledge.catalog_layers import BUNDLED, Facts, IndexedFacts
from portwatch.core.knowledge.software_index import SoftwareIndex
from portwatch.core.model import CatalogEntry, KnownUse, Proto, SecurityNote
from portwatch.core.probe import ephemeral_port_range

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (≈ 4 ms of `lookup`)
if TYPE_CHECKING:  # the last three load with the first annotate(): `lookup` needs none (≈ 15 ms)
    from typing import Any

    from portwatch.core.knowledge.recognition import Recognition
    from portwatch.core.knowledge.risk import Situation
    from portwatch.core.model import AnnotatedListener, Assessment, Listener, ProcessInfo

log = logging.getLogger(__name__)

MAX_PORT = 65535
MAX_USER_FILE_BYTES = 1024 * 1024
MAX_CACHED_ANNOTATIONS = 4096
USER_FILE_SUFFIXES = (".yaml", ".yml")
# Registry descriptions that mean "no service here": shown as no description at all.
_UNASSIGNED = ("unassigned", "de-registered")
_PROTOS = {proto.value for proto in Proto}


class _Default(enum.Enum):
    USER_CATALOG_DIR = "the user's catalog.d"


USER_CATALOG_DIR = _Default.USER_CATALOG_DIR


class CatalogDataError(RuntimeError):
    """The bundled catalog data is missing or damaged: a packaging fault, not the user's."""


class Catalog:
    """Registry meaning and curated facts for every port; what it answers never changes once
    loaded (the indexed layer only reads a port's facts when first asked)."""

    def __init__(self, registry_rows: list[list] | None, layers: Iterable[Facts],
                 problems: Iterable[str] = (),
                 situation: Situation | Callable[[], Situation] | None = None) -> None:
        # [port, "tcp/udp", name, description], sorted by port; None: the bundled layer is
        # an index, which holds them by port
        self._rows = registry_rows
        self._row_ports: list[int] | None = None  # the rows' ports, for bisect (built on use)
        self._layers = tuple(layers)  # user first, then bundled
        self._indexed = next((layer for layer in self._layers
                              if isinstance(layer, IndexedFacts)), None)
        self.software = SoftwareIndex(item for layer in self._layers for item in layer.software)
        # None: unknown; a function: read when first needed (load_catalog's read_situation)
        self._situation = situation
        self._cache: dict[tuple[int, Proto], CatalogEntry] = {}
        # (port, proto, exposure, process text) -> (likely uses, assessment): a service that
        # restarts, or many workers of one server, are matched once.
        self._annotations: dict[tuple, tuple[tuple[KnownUse, ...], Assessment]] = {}
        # (process text, the port's known uses, package) -> Recognition: the 55 ports of one
        # server (or its workers) recognise the program once, not once per port.
        self._recognitions: dict[tuple, Recognition] = {}
        self.problems: tuple[str, ...] = tuple(problems)

    @property
    def situation(self) -> Situation:
        """What the conditional notes are weighed against (see risk.Situation)."""
        found = self._situation
        if found is None or callable(found):
            if found is None:
                from portwatch.core.knowledge.risk import Situation
            found = self._situation = found() if found is not None else Situation()
        return found

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
            uses = _without_repeats(uses)
            for software in self.software.at_port(port, proto):  # the notes of its software
                notes.extend(note for note in software.security if note not in notes)
            entry = CatalogEntry(port, proto, service, description, tuple(uses), tuple(notes))
            self._cache[key] = entry
        return entry

    def annotate(self, listener: Listener, reach: str | None = None) -> AnnotatedListener:
        """The listener with its catalog entry, the software its process is (on any port),
        and the risk of the notes that count for it at its exposure (see risk.py; `reach`:
        other words for who can reach it, as risk.assess takes them)."""
        entry = self.lookup(listener.port, listener.proto)
        process = listener.process
        inner = listener.container.inner_process if listener.container else None
        if inner and process is not None:  # a forwarder: judge the program that answers
            process = model.ProcessInfo(process.pid, inner)
        package, version = package_of(process)
        identity = (process.name, process.exe, process.cmdline, process.provenance,
                    ) if process is not None else None
        key = (listener.port, listener.proto, listener.exposure, reach, identity)
        found = self._annotations.get(key)
        if found is None:
            if len(self._annotations) >= MAX_CACHED_ANNOTATIONS:
                self._annotations.clear()  # a flood of distinct command lines: start over
            from portwatch.core.knowledge.risk import assess

            recognition = self._recognise(process, entry.uses, package, identity)
            situation = (dataclasses.replace(self.situation, version=version) if version
                         else self.situation)
            found = (recognition, assess(entry, listener.exposure, process, recognition,
                                         situation, reach))
            self._annotations[key] = found
        recognition, assessment = found
        return model.AnnotatedListener(listener, entry, assessment, recognition.uses,
                                 recognition.by or None, recognition.flags)

    def _recognise(self, process: ProcessInfo | None, uses: tuple[KnownUse, ...],
                   package: str | None, identity: tuple | None) -> Recognition:
        """`recognise()`, once per program identity and the port's known uses."""
        key = (identity, uses, package)
        found = self._recognitions.get(key)
        if found is None:
            if len(self._recognitions) >= MAX_CACHED_ANNOTATIONS:
                self._recognitions.clear()
            from portwatch.core.knowledge.recognition import recognise

            found = self._recognitions[key] = recognise(process, uses, self.software, package)
        return found

    def ports_named(self, name: str) -> list[tuple[int, Proto]]:
        """The ports known by `name` (case-insensitive), in order: those IANA registered under
        that service name, and those where software of that name is known to listen (a word of
        its name, or one of its process patterns). A range of ports counts by its first port."""
        wanted = name.strip().lower()
        if not wanted:
            return []
        word = re.compile(rf"(?<!\w){re.escape(wanted)}(?!\w)")
        found: set[tuple[int, Proto]] = set()
        services = self._indexed.services() if self._rows is None else self._rows
        for port, protos, service, *_ in services:
            if service.lower() == wanted:
                found.update((port, Proto(p)) for p in protos.split("/") if p in _PROTOS)
        for layer in self._layers:
            for key, software, match in layer.places():
                if key not in found and (wanted in match or word.search(software.lower())):
                    found.add(key)
        return sorted(found, key=lambda key: (key[0], key[1].value))

    def _registry(self, port: int, proto: Proto) -> tuple[str | None, str | None]:
        if self._rows is None:
            rows, index = self._indexed.rows_at(port), 0
        else:
            rows = self._rows
            if self._row_ports is None:  # bisect on plain ints: no Python key call per step
                self._row_ports = [row[0] for row in rows]
            index = bisect.bisect_left(self._row_ports, port)
        while index < len(rows) and rows[index][0] == port:
            _, protos, name, description = rows[index]
            if proto.value in protos.split("/"):
                if not name and description.lower().startswith(_UNASSIGNED):
                    description = ""
                return name or None, description or None
            index += 1
        return None, None


def package_of(process: ProcessInfo | None) -> tuple[str | None, str | None]:
    """The name and version of the package that installed the process's executable, as the
    provenance probe found it (core/probe/provenance.py); (None, None) when unknown."""
    provenance = process.provenance if process is not None else None
    package = provenance.package if provenance is not None else None
    if package is None:
        return None, None
    return package.name, package.version


def _without_repeats(uses: list[KnownUse]) -> list[KnownUse]:
    """A software's default port may also list it by hand: keep the first of each name."""
    seen: set[str] = set()
    kept = []
    for use in uses:
        if use.software not in seen:
            seen.add(use.software)
            kept.append(use)
    return kept


def read_situation(os_release: Path = Path("/etc/os-release"),
                   port_range: Path | None = None) -> Situation:
    """The distribution (ID and ID_LIKE of os-release; None when unreadable) and the
    ephemeral port range (the kernel's, read by the probe; IANA's 49152-65535 when
    unreadable)."""
    platform = None
    try:
        fields = dict(line.split("=", 1) for line in os_release.read_text(
            encoding="utf-8", errors="replace").splitlines() if "=" in line)
        ids = " ".join(fields.get(key, "").strip().strip('"\'') for key in ("ID", "ID_LIKE"))
        platform = frozenset(ids.lower().split()) or None
    except OSError as exc:
        log.debug("cannot read %s: %s", os_release, exc)
    ports = ephemeral_port_range(str(port_range)) if port_range else ephemeral_port_range()
    from portwatch.core.knowledge.risk import Situation

    return Situation(platform, None, ports)


def load_catalog(user_dir: Path | _Default | None = USER_CATALOG_DIR,
                 use_index: bool = True) -> Catalog:
    """The bundled catalog plus the user's catalog.d/*.yaml (None: bundled data only).

    The bundled files are read through their compact index when the data directory holds one
    made from them (catalog_index.py), else parsed whole and the index written for the next
    run; `use_index=False` parses them whole and writes nothing.
    Broken user files are skipped and described in `problems`; a missing or damaged bundled
    file raises CatalogDataError.
    """
    if user_dir is USER_CATALOG_DIR:
        user_dir = paths.user_catalog_dir()
    sources = {name: data_file(name) for name in catalog_index.SOURCES}
    stamp = catalog_index.source_stamp(sources)
    index_path = catalog_index.index_path(paths.data_dir())
    index = catalog_index.read(index_path, stamp) if use_index else None
    rows: list[list] | None = None
    bundled: Facts
    try:
        if index is not None:
            bundled = IndexedFacts(index)
        else:
            bundled, rows = _load_bundled(sources, stamp, index_path if use_index else None)
    except (KeyError, TypeError, ValueError) as exc:
        raise CatalogDataError(f"the bundled catalog data is damaged ({exc!r}); "
                               "reinstall portwatch") from exc
    problems: list[str] = []
    layers = [bundled]
    if user_dir is not None:
        user = _load_user_dir(Path(user_dir), problems)
        if user is not None:
            layers.insert(0, user)
    return Catalog(rows, layers, problems, read_situation)


def _load_bundled(sources: dict[str, Any], stamp: dict[str, Any] | None,
                  index_path: Path | None) -> tuple[Facts, list[list]]:
    """The bundled layer and registry rows parsed whole; the index written to `index_path`
    (when given and the sources are files)."""
    registry = _load_bundled_json("registry.json", sources["registry.json"])
    curated = _load_bundled_json("curated.json", sources["curated.json"])
    bundled = Facts()
    for item in curated.get("software", ()):
        bundled.add_software(item, BUNDLED)
    for entry in curated["entries"]:
        bundled.add(entry, BUNDLED)
    rows = registry["rows"]
    if index_path is not None and stamp is not None:
        places = [[port, proto.value, software, list(match)]
                  for (port, proto), software, match in bundled.places()]
        catalog_index.write(index_path, catalog_index.build(rows, curated, places, stamp))
    return bundled, rows


def _load_bundled_json(name: str, source: Any) -> dict[str, Any]:
    try:
        data = json.loads(source.read_bytes())
    except (OSError, ValueError) as exc:
        raise CatalogDataError(f"cannot read the bundled catalog file {name} ({exc}); "
                               "reinstall portwatch") from exc
    if not isinstance(data, dict) or data.get("format") != 1:
        raise CatalogDataError(f"the bundled catalog file {name} has an unknown format; "
                               "reinstall portwatch")
    return data


def _load_user_dir(directory: Path, problems: list[str]) -> Facts | None:
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
    from portwatch.core.knowledge.catalog_schema import SchemaError, check_catalog_file

    facts = Facts()
    for path in files:
        try:
            data = read_yaml(path, kind="catalog file", max_bytes=MAX_USER_FILE_BYTES)
            entries, software = check_catalog_file(data, str(path), bundled=False)
        except YamlFileError as exc:
            problems.append(f"{path}: {exc}; it was skipped.")
            continue
        except SchemaError as exc:
            problems.extend(f"{message} (the file was skipped)" for message in exc.messages)
            continue
        for item in software:
            facts.add_software(item, str(path))
        for entry in entries:
            facts.add(entry, str(path))
        log.debug("read %d catalog entries and %d software from %s", len(entries),
                  len(software), path)
    return facts


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)
