"""What started each listener: its systemd unit and its container, looked up once per process.

`Origins.annotate(listeners)` returns the listeners with `unit` and `container` filled in. A
process is read once (by pid and start time): its cgroup for the unit, and — for the service
manager, container forwarders and processes in a container's cgroup — the socket units and the
container engines' APIs. A container forwarder whose inner program could not be found yet is
asked again after a while (the program inside may start after the forwarder). Unchanged rows
cost one dictionary lookup per scan.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Callable
from typing import NamedTuple

from portwatch.core.model import ContainerInfo, Listener, ProcessInfo
from portwatch.core.probe import containers, units

log = logging.getLogger(__name__)

RETRY_AFTER = 10.0  # seconds before an unknown inner program or container is asked again
SOCKET_UNITS_TTL = 30.0
CONTAINERS_TTL = 3.0


class _Found(NamedTuple):
    unit: str | None
    container: ContainerInfo | None
    expires: float  # when to look again (inf: never)


def unit_label(unit: units.Unit) -> str:
    """"nginx.service"; a user manager's unit with its manager: "user@1000.service/app.scope"."""
    return unit.name if unit.user is None else f"user@{unit.user}.service/{unit.name}"


class Origins:
    """Fills in `unit` and `container`; one per scanner (not thread-safe)."""

    def __init__(self, proc: str = "/proc", bus_address: str | None = None,
                 unit_dirs: tuple[str, ...] = units.UNIT_DIRS,
                 engine_sockets: Callable[[], list[tuple[str, str]]] = containers.engine_sockets,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._proc = proc
        self._bus = bus_address
        self._unit_dirs = unit_dirs
        self._engine_sockets = engine_sockets
        self._clock = clock
        self._found: dict[tuple[int, float | None, str, int], _Found] = {}
        self._rows: dict[int, tuple[Listener, Listener, _Found | None]] = {}
        self._socket_units: tuple[float, dict[tuple[str, int], str]] | None = None
        self._containers: tuple[float, list[containers.Published]] | None = None
        self._last: tuple[Listener, ...] = ()
        self._input: tuple[Listener, ...] | None = None  # what _last was made from
        self._next_look = float("inf")  # when some process is to be asked again

    def annotate(self, listeners: tuple[Listener, ...]) -> tuple[Listener, ...]:
        now = self._clock()
        if listeners is self._input and now < self._next_look:
            return self._last  # the scanner's very same tuple: the same rows
        rows: dict[int, tuple[Listener, Listener, _Found | None]] = {}
        result: list[Listener] = []
        known = self._rows
        for row in listeners:
            cached = known.get(id(row))
            if cached is not None and cached[0] is row and (
                    cached[2] is None or cached[2].expires > now):
                rows[id(row)] = cached
                result.append(cached[1])
                continue
            found = self._origin(row, now) if row.process is not None else None
            enriched = row
            if found is not None and (found.unit or found.container):
                enriched = dataclasses.replace(row, unit=found.unit, container=found.container)
            rows[id(row)] = (row, enriched, found)
            result.append(enriched)
        self._rows = rows
        self._input = listeners
        self._next_look = min((found.expires for _, _, found in rows.values() if found),
                              default=float("inf"))
        live = {(row.pid, row.process.create_time) for row in listeners if row.process}
        self._found = {key: value for key, value in self._found.items()
                       if key[:2] in live and value.expires > now}
        if len(result) != len(self._last) or any(
                a is not b for a, b in zip(result, self._last, strict=True)):
            self._last = tuple(result)
        return self._last

    def describe(self, pid: int) -> str | None:
        """A name for a network namespace that `pid` lives in: its container, else its unit."""
        try:
            with open(f"{self._proc}/{pid}/cgroup") as handle:
                text = handle.read()
        except OSError:
            return None
        owner = containers.container_id_of_cgroup(text)
        if owner is not None:
            engine, cid = owner
            match = self._match_id(cid, self._clock())
            return f"{engine}:{match.name if match and match.name else cid[:12]}"
        unit = units.unit_of_cgroup(text)
        return unit_label(unit) if unit is not None else None

    # -- one process ------------------------------------------------------------------------

    def _origin(self, row: Listener, now: float) -> _Found:
        proc = row.process
        assert proc is not None
        # The service manager's sockets (socket units) and a forwarder's (published ports of
        # one container or several) differ by port; everything else is per process.
        per_port = proc.name in units.MANAGERS or containers.forwarder_engine(proc.name)
        key = (proc.pid, proc.create_time, row.proto.value, row.port if per_port else 0)
        found = self._found.get(key)
        if found is not None and found.expires > now:
            return found
        found = self._lookup(row, proc, now)
        self._found[key] = found
        return found

    def _lookup(self, row: Listener, proc: ProcessInfo, now: float) -> _Found:
        try:
            with open(f"{self._proc}/{proc.pid}/cgroup") as handle:
                cgroup = handle.read()
        except OSError:
            cgroup = ""
        unit = units.unit_of_cgroup(cgroup)
        label = unit_label(unit) if unit is not None else None
        expires = float("inf")
        if units.is_manager(proc.name, proc.pid, unit):
            socket_unit = self._socket_unit(row.proto.value, row.port, now)
            if socket_unit is not None:
                label = unit_label(units.Unit(socket_unit, units.manager_user(unit)))
        container = None
        in_cgroup = containers.container_id_of_cgroup(cgroup)
        engine = containers.forwarder_engine(proc.name)
        if in_cgroup is not None or engine is not None:
            container = self._container(row, proc, in_cgroup, engine, now)
            if container.id is None or (container.inner_process is None and in_cgroup is None):
                expires = now + RETRY_AFTER
        return _Found(label, container, expires)

    def _socket_unit(self, proto: str, port: int, now: float) -> str | None:
        if self._socket_units is None or now - self._socket_units[0] > SOCKET_UNITS_TTL:
            table = units.socket_units_from_bus(self._bus)
            if table is None:
                table = units.socket_units_from_files(self._unit_dirs)
            self._socket_units = (now, table)
        return self._socket_units[1].get((proto, port))

    def _listed(self, now: float) -> list[containers.Published]:
        if self._containers is None or now - self._containers[0] > CONTAINERS_TTL:
            self._containers = (now, containers.list_containers(self._engine_sockets()))
        return self._containers[1]

    def _match_id(self, cid: str, now: float) -> containers.Published | None:
        for item in self._listed(now):
            if item.id and (item.id.startswith(cid) or cid.startswith(item.id)):
                return item
        return None

    def _container(self, row: Listener, proc: ProcessInfo, in_cgroup: tuple[str, str] | None,
                   engine: str | None, now: float) -> ContainerInfo:
        named = _id_from_cmdline(proc.cmdline) if proc.name.startswith(_STARTED_FOR_ONE) \
            else None
        match = None
        if in_cgroup is not None:
            match = self._match_id(in_cgroup[1], now)
        elif named is not None:
            match = self._match_id(named, now)
        if match is None:  # the container publishing this port, the forwarder's engine first
            for item in sorted(self._listed(now), key=lambda item: item.engine != engine):
                if (row.proto.value, row.port) in item.ports:
                    match = item
                    break
        if match is None:
            engine_name = in_cgroup[0] if in_cgroup else (engine or "unknown")
            cid = in_cgroup[1] if in_cgroup else named
            return ContainerInfo(engine_name, cid)
        if in_cgroup is not None:  # the process itself is the program inside
            return match.info(proc.name)
        inner = self._inner(match, row)
        return match.info(inner)

    def _inner(self, match: containers.Published, row: Listener) -> str | None:
        if os.geteuid() != 0:
            return None  # entering another namespace needs root
        private = match.ports.get((row.proto.value, row.port))
        if private is None:
            return None
        for engine, path in self._engine_sockets():
            if engine == match.engine and os.path.exists(path):
                pid = containers.container_pid(path, match.id)
                if pid is not None:
                    return containers.inner_process(pid, private, row.proto.value, self._proc)
        return None


_STARTED_FOR_ONE = ("conmon", "containerd-shim")  # their command line names the id


def _id_from_cmdline(cmdline: tuple[str, ...]) -> str | None:
    """The container id that conmon (-c/--cid) or containerd-shim (-id) was started for."""
    for flag in ("-c", "--cid", "-id", "--id"):
        if flag in cmdline:
            index = cmdline.index(flag)
            if index + 1 < len(cmdline):
                return cmdline[index + 1]
    return None
