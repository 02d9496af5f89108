"""Which systemd unit started a process, and which socket unit a socket-activated port belongs to.

A process's unit is the deepest unit (not slice) on its cgroup path in `/proc/<pid>/cgroup`:
the `name=systemd` line of the v1/hybrid layout, else the cgroup2 line `0::`. Units under a
user manager (`user@1000.service/app.slice/app-firefox-1234.scope`) are user units, stopped with
`systemctl --user`. A socket held by the service manager itself (PID 1, a `systemd --user`
manager) belongs to a socket unit: systemd's D-Bus API (`org.freedesktop.systemd1`, each
socket unit's `Listen` property) tells which, when a bus answers; otherwise the socket unit
files (`ListenStream=`, `ListenDatagram=`) in systemd's unit directories are read. A port held
by `systemd-socket-activate` belongs to the command it will start (its command line says).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

log = logging.getLogger(__name__)

_UNIT_SUFFIXES = (".service", ".scope", ".socket", ".mount", ".swap", ".timer", ".target")
_USER_MANAGER = re.compile(r"^user@(\d+)\.service$")
UNIT_DIRS = ("/etc/systemd/system", "/run/systemd/system", "/run/systemd/transient",
             "/usr/local/lib/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system")
MANAGERS = frozenset({"systemd"})
ACTIVATORS = frozenset({"systemd-socket-activate", "systemd-socket-activ"})  # comm is 15 chars


class Unit(NamedTuple):
    """A systemd unit; `user` is the uid of the user manager that runs it (None: the system)."""

    name: str
    user: int | None = None

    def systemctl(self) -> str:
        return "systemctl --user" if self.user is not None else "systemctl"


def unit_of_cgroup(text: str) -> Unit | None:
    """The unit from the contents of /proc/<pid>/cgroup, or None (outside any unit)."""
    paths: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            _, controllers, path = parts
            if controllers == "name=systemd":
                paths["v1"] = path
            elif parts[0] == "0" and controllers == "":
                paths["v2"] = path
    for kind in ("v1", "v2"):  # the named hierarchy is systemd's own where it exists
        unit = unit_of_path(paths.get(kind, ""))
        if unit is not None:
            return unit
    return None


def unit_of_path(path: str) -> Unit | None:
    user: int | None = None
    unit: str | None = None
    for part in path.strip("/").split("/"):
        manager = _USER_MANAGER.match(part)
        if manager is not None:
            user = int(manager.group(1))
            unit = part
            continue
        if part.endswith(_UNIT_SUFFIXES):
            unit = part
    if unit is None:
        return None
    if user is not None and unit.startswith("user@"):
        return Unit(unit)  # the manager itself is a system unit
    return Unit(unit, user)


def unit_of_pid(pid: int, proc: str = "/proc") -> Unit | None:
    try:
        with open(f"{proc}/{pid}/cgroup") as handle:
            return unit_of_cgroup(handle.read())
    except OSError:
        return None


def is_manager(name: str | None, pid: int | None, unit: Unit | None) -> bool:
    """PID 1's systemd, or a user's `systemd --user` (which runs in user@UID.service)."""
    if name not in MANAGERS:
        return False
    if pid == 1:
        return True
    # A user manager lives in user@UID.service itself, or in its init.scope.
    return unit is not None and (_USER_MANAGER.match(unit.name) is not None or (
        unit.user is not None and unit.name == "init.scope"))


def manager_user(unit: Unit | None) -> int | None:
    """The uid whose manager runs in `unit` (user@UID.service or its init.scope), else None."""
    if unit is None:
        return None
    match = _USER_MANAGER.match(unit.name)
    return int(match.group(1)) if match is not None else unit.user


# -- socket units ------------------------------------------------------------------------------

_LISTEN = re.compile(r"^\s*Listen(Stream|Datagram)\s*=\s*(\S+)\s*$")


def _listen_port(value: str) -> int | None:
    """The port of a ListenStream=/ListenDatagram= value: "22", "0.0.0.0:22", "[::]:22"."""
    if value.startswith("/") or value.startswith("@"):
        return None  # a Unix socket
    tail = value.rsplit(":", 1)[-1] if ":" in value else value
    return int(tail) if tail.isdigit() else None


def socket_units_from_files(dirs: Iterable[str] = UNIT_DIRS) -> dict[tuple[str, int], str]:
    """(kind, port) -> socket unit name, from unit files (first directory wins, as in systemd);
    kind is "tcp" for ListenStream, "udp" for ListenDatagram."""
    found: dict[tuple[str, int], str] = {}
    seen: set[str] = set()
    for folder in dirs:
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            continue
        for name in names:
            if not name.endswith(".socket") or name in seen:
                continue
            seen.add(name)
            try:
                text = Path(folder, name).read_text(errors="replace")
            except OSError:
                continue
            for line in text.splitlines():
                match = _LISTEN.match(line)
                if match is None:
                    continue
                port = _listen_port(match.group(2))
                if port is not None:
                    kind = "tcp" if match.group(1) == "Stream" else "udp"
                    found.setdefault((kind, port), name)
    return found


def socket_units_from_bus(address: str | None = None) -> dict[tuple[str, int], str] | None:
    """(kind, port) -> socket unit from systemd's D-Bus API; None when no bus or no systemd
    answers (then the unit files are the source)."""
    try:
        from jeepney import DBusAddress, new_method_call
        from jeepney.io.blocking import open_dbus_connection
    except ImportError:
        return None
    try:
        conn = open_dbus_connection(bus=address or "SYSTEM", enable_fds=False)
    except (OSError, KeyError, ValueError) as exc:
        log.debug("no system bus: %s", exc)
        return None
    found: dict[tuple[str, int], str] = {}
    try:
        manager = DBusAddress("/org/freedesktop/systemd1", bus_name="org.freedesktop.systemd1",
                              interface="org.freedesktop.systemd1.Manager")
        reply = conn.send_and_get_reply(
            new_method_call(manager, "ListUnitsByPatterns", "asas", ([], ["*.socket"])),
            timeout=2)
        if reply.header.message_type.name == "error":
            return None
        for unit in reply.body[0]:
            name, path = unit[0], unit[6]
            props = DBusAddress(path, bus_name="org.freedesktop.systemd1",
                                interface="org.freedesktop.DBus.Properties")
            answer = conn.send_and_get_reply(new_method_call(
                props, "Get", "ss", ("org.freedesktop.systemd1.Socket", "Listen")), timeout=2)
            if answer.header.message_type.name == "error":
                continue
            _signature, listens = answer.body[0]
            for kind, value in listens:
                port = _listen_port(value)
                if port is not None and kind in ("Stream", "Datagram"):
                    found.setdefault(("tcp" if kind == "Stream" else "udp", port), name)
    except (OSError, TimeoutError, ValueError, IndexError, TypeError) as exc:
        log.debug("systemd's D-Bus API did not answer: %s", exc)
        return None
    finally:
        conn.close()
    return found


def service_of_socket(socket_unit: str, dirs: Iterable[str] = UNIT_DIRS) -> str:
    """The service a socket unit starts: its Service=, else NAME.service (NAME@.service with
    Accept=yes)."""
    base = socket_unit.removesuffix(".socket")
    accept = False
    for folder in dirs:
        try:
            text = Path(folder, socket_unit).read_text(errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "Service" and value.strip():
                return value.strip()
            if key.strip() == "Accept" and value.strip().lower() in ("yes", "true", "1", "on"):
                accept = True
        break
    return f"{base}@.service" if accept else f"{base}.service"


def activated_command(cmdline: tuple[str, ...]) -> tuple[str, ...]:
    """What systemd-socket-activate will start: its arguments after the options."""
    args = list(cmdline[1:])
    takes_value = {"-l", "--listen", "-E", "--setenv", "--fdname"}
    while args:
        arg = args[0]
        if arg == "--":
            args.pop(0)
            break
        if not arg.startswith("-"):
            break
        args.pop(0)
        if arg in takes_value and args:
            args.pop(0)
    return tuple(args)


def stop_advice(unit: Unit) -> str:
    """How to stop it, and keep it from starting again, in one sentence."""
    ctl = unit.systemctl()
    if unit.name.endswith(".scope"):
        return (f"Stop it with `{ctl} stop {unit.name}` (a scope: it was started by a program,"
                " not at boot, so there is nothing to disable)")
    if unit.name.endswith(".socket"):
        return (f"Stop it with `{ctl} stop {unit.name}`; `{ctl} disable {unit.name}` keeps it"
                " from listening after the next boot")
    return (f"Stop it with `{ctl} stop {unit.name}`; `{ctl} disable {unit.name}` keeps it from"
            " starting at the next boot")
