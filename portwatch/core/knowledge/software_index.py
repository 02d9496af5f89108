"""Software by executable name, package and default port: what `recognise` and the catalog's
`lookup` search. Apart from recognition.py so that `portwatch lookup`, which only asks which
software listens on a port by default, loads none of the recognition rules.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from portwatch.core.model import Software

SCRIPT_SUFFIXES = (".py", ".pyz", ".js", ".mjs", ".cjs", ".ts", ".jar", ".rb", ".pl",
                    ".sh", ".php", ".exe", ".bin", ".appimage")
VERSION = re.compile(r"(?:-?\d+(?:\.\d+)*)$")


def stem(name: str) -> str:
    """A file name without script suffix or version: "python3.11" -> "python"."""
    if name.endswith(SCRIPT_SUFFIXES):
        name = name.rsplit(".", 1)[0]
    return VERSION.sub("", name) or name

class SoftwareIndex:
    """Software by executable name, script name, module and package, for `recognise`."""

    def __init__(self, software: Iterable[Software]) -> None:
        self.software = tuple(software)
        self._by_name: dict[str, Software] = {}
        self._by_package: dict[str, Software] = {}
        self._by_port: dict[tuple[int, object], tuple[Software, ...]] = {}
        self._port_ranges: list[tuple[int, int, object, Software]] = []
        for item in self.software:
            for low, high, proto in item.ports:
                if low == high:
                    self._by_port[(low, proto)] = (*self._by_port.get((low, proto), ()), item)
                else:
                    self._port_ranges.append((low, high, proto, item))
        for item in self.software:  # the first definition of a name wins (the user's first)
            for name in item.executables:
                self._by_name.setdefault(name, item)
            for name in item.packages:
                self._by_package.setdefault(name, item)

    def by_name(self, name: str) -> Software | None:
        if not name:
            return None
        for key in (name, stem(name), VERSION.sub("", name)):
            found = self._by_name.get(key)
            if found is not None:
                return found
        # a module or Java class: org.apache.catalina.startup.Bootstrap -> org.apache.catalina
        parts = name.split(".")
        for end in range(len(parts) - 1, 0, -1):
            found = self._by_name.get(".".join(parts[:end]))
            if found is not None:
                return found
        return None

    def at_port(self, port: int, proto: object) -> tuple[Software, ...]:
        """The software whose default ports include port/proto."""
        found = self._by_port.get((port, proto), ())
        ranged = [item for low, high, p, item in self._port_ranges
                  if low <= port <= high and p == proto and item not in found]
        return (*found, *ranged) if ranged else found

    def by_package(self, package: str | None) -> Software | None:
        return self._by_package.get(package.lower()) if package else None
