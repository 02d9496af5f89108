"""Listener events as RFC 5424 syslog messages, sent to the local syslog socket.

One datagram per event to /dev/log (PORTWATCH_SYSLOG_SOCKET overrides the path):

    <PRI>1 TIMESTAMP HOSTNAME portwatch PROCID EVENT [portwatch@32473 port="8000" …] BOM MSG

PRI is facility daemon (3) × 8 + the severity of core/output/journal.priority() (the risk). MSGID is
the event (opened, closed). The structured data carry the same keys as the journal fields,
lower-case; portwatch has no enterprise number of its own, so its SD-ID uses 32473, the one
RFC 5612 reserves for documentation. PARAM-VALUEs escape `"`, `\\` and `]` as RFC 5424 §6.3.3
says; the MSG is UTF-8 after a byte order mark (§6.4), its text from `watch`'s line, which
shows control characters as escapes.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterable

from portwatch.core.output.journal import DatagramWriter
from portwatch.core.text import encodable

DEFAULT_SOCKET = "/dev/log"
SOCKET_ENV = "PORTWATCH_SYSLOG_SOCKET"
APP_NAME = "portwatch"
SD_ID = "portwatch@32473"
FACILITY_DAEMON = 3
MAX_VALUE = 1024  # characters of one SD-PARAM value
BOM = "\ufeff"


def _header_word(text: str, limit: int) -> str:
    """A header field: printable US-ASCII without spaces (RFC 5424 PRINTUSASCII), or "-"."""
    word = "".join(ch for ch in text if 33 <= ord(ch) <= 126)[:limit]
    return word or "-"


def _param_value(text: str) -> str:
    text = encodable(text)[:MAX_VALUE]
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def _param_name(key: str) -> str:
    # SD-NAME: 1-32 printable US-ASCII except = space ] "
    return "".join(ch for ch in key.lower() if 33 <= ord(ch) <= 126 and ch not in '= ]"')[:32]


def timestamp(when: float) -> str:
    """RFC 3339 in UTC with microseconds, as §6.2.3 allows."""
    seconds = int(when)
    micros = round((when - seconds) * 1_000_000)
    if micros == 1_000_000:
        seconds, micros = seconds + 1, 0
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{micros:06d}Z"


def message(severity: int, msgid: str, text: str, params: Iterable[tuple[str, str]], *,
            when: float, hostname: str | None = None, procid: int | None = None) -> bytes:
    """One RFC 5424 message."""
    pri = FACILITY_DAEMON * 8 + severity
    host = _header_word(hostname if hostname is not None else socket.gethostname(), 255)
    pid = str(procid if procid is not None else os.getpid())
    sd_params = "".join(f' {_param_name(key)}="{_param_value(value)}"' for key, value in params)
    structured = f"[{SD_ID}{sd_params}]"
    head = (f"<{pri}>1 {timestamp(when)} {host} {APP_NAME} {_header_word(pid, 128)}"
            f" {_header_word(msgid, 32)} {structured}")
    return (head + " " + BOM + encodable(text)).encode("utf-8")


class SyslogWriter(DatagramWriter):
    """Sends messages to the local syslog socket."""

    default = DEFAULT_SOCKET
    env = SOCKET_ENV
