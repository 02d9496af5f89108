"""Listener events to the systemd journal, through its native socket protocol (no library).

One datagram per event to /run/systemd/journal/socket (PORTWATCH_JOURNAL_SOCKET overrides the
path, for tests and for a journal namespace), as systemd's "Native Journal Protocol" describes:
`NAME=value\\n` per field, or for a value holding a line feed `NAME\\n`, its length as a 64-bit
little-endian number, the bytes, `\\n`. A datagram too large for the socket goes as a sealed
memfd passed with SCM_RIGHTS, as sd_journal_send() does.

Fields: MESSAGE (the line `watch` prints), PRIORITY (from the risk: high 3 err, medium 4
warning, low 5 notice, none 6 info; a closed listener is 6), SYSLOG_IDENTIFIER=portwatch and
PORTWATCH_EVENT, PORTWATCH_PROTO, PORTWATCH_ADDRESS, PORTWATCH_PORT, PORTWATCH_EXPOSURE,
PORTWATCH_PID, PORTWATCH_PROCESS, PORTWATCH_USER, PORTWATCH_EXE, PORTWATCH_CMDLINE,
PORTWATCH_SERVICE, PORTWATCH_RISK, PORTWATCH_RISK_REASON, PORTWATCH_FLAGS, PORTWATCH_PACKAGE_NAME,
PORTWATCH_PREVIOUS_PID (a `changed` event) … — the `watch --json` record's keys, upper-cased:
EVENT and TIME, then every listener field declared with `log` (portwatch.core.fields; lists of
objects such as holders and security notes are not), then the previous owner's keys
(event_fields() says how lists and objects become fields). Values are the raw bytes (a process
name that is not UTF-8 keeps its bytes; the journal stores binary fields).
"""

from __future__ import annotations

import array
import contextlib
import errno
import os
import shlex
import socket
import struct
from collections.abc import Iterator
from typing import Any

from portwatch.core.fields import FIELDS
from portwatch.core.model import AnnotatedListener, Risk
from portwatch.core.output.records import owner_record
from portwatch.core.store.history_events import iso_utc

DEFAULT_SOCKET = "/run/systemd/journal/socket"
SOCKET_ENV = "PORTWATCH_JOURNAL_SOCKET"
IDENTIFIER = "portwatch"
MAX_FIELD_BYTES = 64 * 1024  # a command line can be long; the journal keeps fields this short
_PRIORITY = {Risk.HIGH: 3, Risk.MEDIUM: 4, Risk.LOW: 5, Risk.NONE: 6}
INFO = 6
# The listener fields an entry carries, in the record's order.
_LOGGED = tuple((field.key, field.read) for field in FIELDS if field.json and field.log)


def priority(event: str, row: AnnotatedListener) -> int:
    """syslog severity of an event: an opened (or present) listener by its risk, else info."""
    if event == "closed" or row.assessment is None:
        return INFO
    return _PRIORITY[row.assessment.risk]


def _text(key: str, value: Any) -> str | None:
    """A record value as one field's text; None for what has no place in a log line (lists
    of objects: holders, security notes — `list --json` and `portwatch lookup` have them)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        if key.endswith("cmdline"):
            return shlex.join(str(item) for item in value)
        if all(isinstance(item, str | int) for item in value):
            return ",".join(str(item) for item in value) or None
        return None
    return str(value)


def event_fields(event: str, when: float, row: AnnotatedListener,
                 previous: AnnotatedListener | None = None) -> Iterator[tuple[str, str]]:
    """(KEY, value) for the event's record (`watch --json`'s keys, the logged fields only):
    scalars as they are, a command line as a shell would quote it, lists of words joined with
    commas, objects one level down (PACKAGE_NAME, PREVIOUS_PID); nulls and lists of objects are
    left out."""
    values: list[tuple[str, Any]] = [("event", event), ("time", iso_utc(when))]
    values += [(key, read(row)) for key, read in _LOGGED]
    if previous is not None:
        values.append(("previous", owner_record(previous)))
    for key, value in values:
        items = value.items() if isinstance(value, dict) else ((None, value),)
        for sub, item in items:
            name = f"{key}_{sub}" if sub else key
            text = None if item is None else _text(name, item)
            if text is not None:
                yield name.upper(), text


def _field(name: str, value: str | int) -> bytes:
    data = str(value).encode("utf-8", "surrogateescape")[:MAX_FIELD_BYTES]
    key = name.encode("ascii")
    if b"\n" in data:
        return key + b"\n" + struct.pack("<Q", len(data)) + data + b"\n"
    return key + b"=" + data + b"\n"


def entry(message: str, prio: int, fields: Iterator[tuple[str, str]] | list) -> bytes:
    """One journal entry in the native protocol's datagram format."""
    parts = [_field("MESSAGE", message), _field("PRIORITY", prio),
             _field("SYSLOG_IDENTIFIER", IDENTIFIER)]
    parts.extend(_field(f"PORTWATCH_{key}", value) for key, value in fields)
    return b"".join(parts)


class DatagramWriter:
    """A Unix datagram socket that sends to one path: `default` unless the environment
    variable `env` or the caller names another. `send()` raises OSError when nothing listens
    there (the caller reports that once)."""

    default = DEFAULT_SOCKET
    env = SOCKET_ENV

    def __init__(self, path: str | None = None) -> None:
        self.path = path or os.environ.get(self.env) or self.default
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)

    def send(self, data: bytes) -> None:
        self._sock.sendto(data, self.path)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.close()


class JournalWriter(DatagramWriter):
    """Sends entries to the journal's native socket; a datagram too large goes as a memfd."""

    def send(self, data: bytes) -> None:
        try:
            super().send(data)
        except OSError as exc:
            if exc.errno not in (errno.EMSGSIZE, errno.ENOBUFS):
                raise
            self._send_memfd(data)

    def _send_memfd(self, data: bytes) -> None:
        fd = os.memfd_create("portwatch-journal", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        try:
            os.write(fd, data)
            import fcntl

            seals = fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SEAL
            fcntl.fcntl(fd, fcntl.F_ADD_SEALS, seals)
            rights = (socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]).tobytes())
            self._sock.sendmsg([], [rights], 0, self.path)
        finally:
            os.close(fd)

