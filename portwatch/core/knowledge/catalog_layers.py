"""The catalog's layers: the uses, security notes and software of one source (the user's files
or the bundled data), indexed by port for `Catalog.lookup` (catalog.py joins the layers).

`Facts` holds a layer parsed whole; `IndexedFacts` reads the bundled layer from the compact
index (catalog_index.py): the software and the range entries at once, a port's exact entries
the first time it is asked for.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from portwatch.core.knowledge.catalog_index import CatalogIndex
from portwatch.core.model import KnownUse, Proto, SecurityNote, Severity, Software

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (see catalog.py)
if TYPE_CHECKING:
    from typing import Any

BUNDLED = "bundled"  # the origin of the facts that ship with portwatch


def security_note(n: dict[str, Any], origin: str, software: str | None = None,
          executables: tuple[str, ...] = ()) -> SecurityNote:
    """A security note; a software's note applies to its executables."""
    return SecurityNote(n["title"], Severity(n["severity"]), n["kind"], n["note"],
                        tuple(n["refs"]), origin, tuple(n.get("applies_to", ())) or executables,
                        tuple(n.get("platforms", ())), n.get("versions"), n.get("unless"),
                        bool(n.get("local_users")), software)


class Facts:
    """Uses, security notes and software of one layer (user or bundled), indexed for lookup."""

    __slots__ = ("exact", "ranges", "software")

    def __init__(self) -> None:
        self.exact: dict[tuple[int, Proto], tuple[list[KnownUse], list[SecurityNote]]] = {}
        self.ranges: list[tuple[int, int, Proto, list[KnownUse], list[SecurityNote]]] = []
        self.software: list[Software] = []

    def add_software(self, item: dict[str, Any], origin: str) -> None:
        name = item["software"]
        software = Software(
            name, tuple(item["executables"]), tuple(item.get("packages", ())),
            tuple((low, high, Proto(proto)) for low, high, proto in item["ports"]),
            item["note"], tuple(item["refs"]),
            tuple(security_note(n, origin, name, tuple(item["executables"]))
                  for n in item["security"]), origin)
        self.software.append(software)
        for low, high, proto in software.ports:
            self.add({"ports": [[low, high]], "protos": [proto.value], "uses": [],
                      "security": []}, origin, [software.as_use()])

    def add(self, entry: dict[str, Any], origin: str,
            extra_uses: list[KnownUse] | None = None) -> None:
        uses = extra_uses or [KnownUse(u["software"], u["note"], tuple(u["refs"]), origin,
                                       tuple(u.get("match", ())))
                              for u in entry["uses"]]
        notes = [security_note(n, origin) for n in entry["security"]]
        for proto_name in entry["protos"]:
            proto = Proto(proto_name)
            for low, high in entry["ports"]:
                if low == high:
                    have_uses, have_notes = self.exact.setdefault((low, proto), ([], []))
                    have_uses.extend(uses)
                    have_notes.extend(notes)
                else:
                    self.ranges.append((low, high, proto, uses, notes))

    def places(self) -> Iterable[tuple[tuple[int, Proto], str, tuple[str, ...]]]:
        """((port, proto), software, match patterns) of every known use; a range by its first
        port."""
        for key, (uses, _) in self.exact.items():
            for use in uses:
                yield key, use.software, use.match
        for low, _, proto, uses, _ in self.ranges:
            for use in uses:
                yield (low, proto), use.software, use.match

    def collect(self, port: int, proto: Proto, uses: list, notes: list) -> None:
        found = self.exact.get((port, proto))
        if found:
            uses.extend(found[0])
            notes.extend(found[1])
        for low, high, range_proto, range_uses, range_notes in self.ranges:
            if low <= port <= high and range_proto is proto:
                uses.extend(range_uses)
                notes.extend(range_notes)


class IndexedFacts(Facts):
    """The bundled layer read from the compact index (catalog_index.py): the software and the
    range entries at once, a port's exact entries the first time it is asked for."""

    __slots__ = ("_index", "_lock", "_names", "_rows")

    def __init__(self, index: CatalogIndex) -> None:
        super().__init__()
        self._index = index
        self._rows: dict[int, list[list]] = {}  # port -> its registry rows, once read
        # The window looks ports up in its own thread while the worker annotates: a port's
        # entries join the layer once.
        self._lock = threading.Lock()
        self._names: dict[str, Any] | None = None  # the index's names, once read
        common = index.common()
        for item in common["software"]:
            self.add_software(item, BUNDLED)
        for entry in common["ranges"]:
            self.add(entry, BUNDLED)

    def rows_at(self, port: int) -> list[list]:
        """The port's registry rows; its entries join the layer on the first call."""
        rows = self._rows.get(port)
        if rows is None:
            with self._lock:
                rows = self._rows.get(port)
                if rows is None:
                    rows, entries = self._index.at(port)
                    for entry in entries:  # after the software's: the order of the full load
                        self.add(entry, BUNDLED)
                    self._rows[port] = rows  # last: seen only with its entries in place
        return rows

    def collect(self, port: int, proto: Proto, uses: list, notes: list) -> None:
        self.rows_at(port)
        super().collect(port, proto, uses, notes)

    def _read_names(self) -> dict[str, Any]:
        if self._names is None:
            self._names = self._index.names()
        return self._names

    def places(self) -> Iterable[tuple[tuple[int, Proto], str, tuple[str, ...]]]:
        for port, proto, software, match in self._read_names()["places"]:
            yield (port, Proto(proto)), software, tuple(match)

    def services(self) -> list[list]:
        """[port, protos, name] of every registry row with a service name."""
        return self._read_names()["services"]
