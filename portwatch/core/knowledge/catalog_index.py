"""A compact index of the bundled catalog: `lookup` reads the facts of the ports it shows only.

Parsing data/registry.json and data/curated.json whole and building every fact costs ≈ 20 ms,
a third of `portwatch lookup 3141`. The index keeps the same facts cut by port: for each port
the registry rows and the curated entries that name it exactly, as a small JSON text found by
bisection in a table of offsets, plus two sections read when needed: the software and the
entries over port ranges (every load: they may apply to any port) and the names (`lookup
NAME`). The catalog built from it (catalog.py's `_IndexedFacts`) parses a port's text the
first time that port is asked for, with the very code of the full load (`_Facts.add`), so both
give the same entries (tests/core/test_catalog_index.py compares them port by port).

It is built from the parsed bundled files by any load that had to read them whole and kept in
the data directory (`catalog-index-<uid>.bin`), and believed only when it is in this module's
format, was made by this version of portwatch from bundled files of the sizes and modification
times found now, and this user wrote it and nobody else could have (core/files/cache.py's
rules). A missing or refused index costs that one load the full parse, never an error. A
change to what the index holds or how it is read bumps FORMAT.
"""

from __future__ import annotations

import array
import bisect
import json
import logging
import os
import struct
import zlib
from pathlib import Path

from portwatch import __version__
from portwatch.core.files.cache import read_cache_bytes

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (≈ 4 ms of `lookup`)
if TYPE_CHECKING:
    from typing import Any

log = logging.getLogger(__name__)

SOURCES = ("registry.json", "curated.json")
FORMAT = 1
MAGIC = b"portwatch catalog index\n"
_LENGTH = struct.Struct("<I")
_OFFSET = "I"  # array type of the port and offset tables (4 bytes on every Linux ABI)


def index_path(data_dir: Path) -> Path:
    """Where the index is kept: one per user (root's `sudo portwatch` and the user's own runs
    may share a data directory, and each believes only its own file)."""
    uid = os.geteuid() if hasattr(os, "geteuid") else 0
    return data_dir / f"catalog-index-{uid}.bin"


def source_stamp(paths: dict[str, Path]) -> dict[str, Any] | None:
    """(size, mtime in ns) of each bundled source file, and portwatch's version; None when a
    file cannot be seen (in a zip: then no index is used)."""
    stamp: dict[str, Any] = {"portwatch": __version__}
    for name in SOURCES:
        try:
            st = os.stat(paths[name])
        except (OSError, TypeError, KeyError):
            return None
        stamp[name] = [st.st_size, st.st_mtime_ns]
    return stamp


def build(registry_rows: list[list], curated: dict[str, Any],
          places: list[list], stamp: dict[str, Any]) -> bytes:
    """The index's bytes: `registry_rows` and `curated` as parsed from the bundled files,
    `places` the bundled layer's [port, proto, software, match] for `ports_named`."""
    by_port: dict[int, tuple[list, list]] = {}
    for row in registry_rows:
        by_port.setdefault(row[0], ([], []))[0].append(row)
    ranges = []
    for entry in curated["entries"]:
        exact = [low for low, high in entry["ports"] if low == high]
        spans = [[low, high] for low, high in entry["ports"] if low != high]
        for port in dict.fromkeys(exact):
            by_port.setdefault(port, ([], []))[1].append({**entry, "ports": [[port, port]]})
        if spans:
            ranges.append({**entry, "ports": spans})
    ports = array.array(_OFFSET, sorted(by_port))
    encode = json.JSONEncoder(separators=(",", ":")).encode  # one encoder for ~6,000 chunks
    chunks = [encode(by_port[port]).encode() for port in ports]
    common = encode({"software": curated.get("software", []), "ranges": ranges}).encode()
    services = [[port, protos, name] for port, protos, name, _ in registry_rows if name]
    names = encode({"services": services, "places": places}).encode()
    offsets = array.array(_OFFSET, [0])
    for chunk in (*chunks, common, names):
        offsets.append(offsets[-1] + len(chunk))
    tables = b"".join((ports.tobytes(), offsets.tobytes(), *chunks, common, names))
    header = json.dumps({"format": FORMAT, "sources": stamp, "count": len(ports),
                         "crc32": zlib.crc32(tables)}).encode()
    return b"".join((MAGIC, _LENGTH.pack(len(header)), header, tables))


class CatalogIndex:
    """A read index: `at(port)` -> (registry rows, exact entries); `common()`; `names()`.
    Raises ValueError when the bytes are not a whole index."""

    def __init__(self, data: bytes) -> None:
        if not data.startswith(MAGIC):
            raise ValueError("not a catalog index")
        (length,) = _LENGTH.unpack_from(data, len(MAGIC))
        start = len(MAGIC) + _LENGTH.size
        self.header = json.loads(data[start:start + length])
        count = self.header["count"]
        width = array.array(_OFFSET).itemsize
        tables = memoryview(data)[start + length:]
        self._ports = array.array(_OFFSET)
        self._ports.frombytes(tables[:count * width])
        self._offsets = array.array(_OFFSET)
        self._offsets.frombytes(tables[count * width:(2 * count + 3) * width])
        self._data = tables[(2 * count + 3) * width:]
        if len(self._ports) != count or len(self._offsets) != count + 3 or \
                self._offsets[-1] != len(self._data):
            raise ValueError("a truncated catalog index")
        # a damaged chunk would fail later, in the middle of a lookup: checked once (≈ 0.5 ms)
        if zlib.crc32(tables) != self.header["crc32"]:
            raise ValueError("a damaged catalog index")

    def _chunk(self, number: int) -> Any:
        return json.loads(bytes(self._data[self._offsets[number]:self._offsets[number + 1]]))

    def at(self, port: int) -> tuple[list[list], list[dict[str, Any]]]:
        """The registry rows of `port` and the curated entries naming it exactly."""
        number = bisect.bisect_left(self._ports, port)
        if number < len(self._ports) and self._ports[number] == port:
            rows, entries = self._chunk(number)
            return rows, entries
        return [], []

    def common(self) -> dict[str, Any]:
        """{"software": every software, "ranges": the entries over port ranges}."""
        return self._chunk(len(self._ports))

    def names(self) -> dict[str, Any]:
        """{"services": [port, protos, name] of every named registry row,
        "places": [port, proto, software, match] of every known use}."""
        return self._chunk(len(self._ports) + 1)


def read(path: Path, stamp: dict[str, Any] | None) -> CatalogIndex | None:
    """The index at `path` when it is whole, of this format and made from files with `stamp`."""
    if stamp is None:
        return None
    data = read_cache_bytes(path)
    if data is None:
        return None
    try:
        index = CatalogIndex(data)
    except (ValueError, KeyError, TypeError, struct.error) as exc:
        log.debug("ignoring the catalog index %s: %s", path, exc)
        return None
    if index.header.get("format") != FORMAT or index.header.get("sources") != stamp:
        return None
    return index


def write(path: Path, data: bytes) -> None:
    """Keep the index for the next run; a directory that does not exist is not created."""
    from portwatch.core.files.atomic import write_atomic

    if not path.parent.is_dir():
        return
    try:
        write_atomic(path, data, mode=0o600, durable=False)
    except OSError as exc:
        log.debug("could not save the catalog index to %s: %s", path, exc)

