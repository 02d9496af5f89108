"""Run portwatch on another machine through the system's OpenSSH client.

`ssh_command(host, args)` builds the argv: `ssh -o BatchMode=yes … -- HOST portwatch ARGS`,
so the user's ~/.ssh/config, keys and agent apply and no password is ever asked for or
stored (BatchMode fails instead of prompting). PORTWATCH_SSH_COMMAND replaces `ssh` (words
split like a shell would, e.g. `ssh -F ~/.ssh/lab_config`), PORTWATCH_REMOTE_COMMAND the
remote `portwatch` (e.g. `~/.local/bin/portwatch` or `/opt/portwatch/bin/portwatch`).

`explain(host, status, stderr)` turns a failed run into one sentence: ssh's own failure (exit
255: cannot connect, host key, login refused), portwatch missing on the host (127: the
remote shell's "command not found", with how to install it), or the remote portwatch's own
message. Text from the remote side is passed through `visible()`: it is another machine's.
"""

from __future__ import annotations

import calendar
import os
import re
import shlex
import time

from portwatch.core.model import (
    AnnotatedListener,
    Assessment,
    CatalogEntry,
    Exposure,
    Family,
    KnownUse,
    Listener,
    ProcessInfo,
    Proto,
    Risk,
)
from portwatch.core.text import visible

SSH_ENV = "PORTWATCH_SSH_COMMAND"
REMOTE_ENV = "PORTWATCH_REMOTE_COMMAND"
SSH_OPTIONS = ("-o", "BatchMode=yes", "-o", "ConnectTimeout=15", "-o", "ServerAliveInterval=15",
               "-o", "ServerAliveCountMax=3")
SSH_FAILED = 255  # ssh's own exit status when it could not connect or log in
NOT_FOUND = 127  # the remote shell: command not found
NOT_EXECUTABLE = 126
# user@host, host, an IPv6 address (fe80::1%eth0), host aliases from ~/.ssh/config; never an
# option ("-oProxyCommand=…")
_HOST = re.compile(r"^(?:[A-Za-z0-9._+-]+@)?(?:[A-Za-z0-9._-]+|[0-9A-Fa-f:.]+(?:%[\w.-]+)?)$")
INSTALL_HINT = ("install it there (`pipx install portwatch`, or copy the wheel: `scp"
                " dist/portwatch-*.whl HOST: && ssh HOST pip install --user portwatch-*.whl`),"
                " or name it with PORTWATCH_REMOTE_COMMAND=/path/to/portwatch")


class RemoteError(Exception):
    """The remote run failed; the message says why and what to do."""


def check_host(text: str) -> str:
    """HOST or USER@HOST as ssh takes it; ValueError for anything else (an option, spaces)."""
    if not _HOST.match(text) or text.startswith("-"):
        raise ValueError(f"not a host (USER@HOST, HOST or an ssh_config alias): {text!r}")
    return text


def ssh_command(host: str, args: list[str]) -> list[str]:
    """The local argv that runs `portwatch ARGS` on `host`."""
    ssh = shlex.split(os.environ.get(SSH_ENV, "")) or ["ssh"]
    remote = os.environ.get(REMOTE_ENV, "").strip() or "portwatch"
    # ssh hands the remote shell one string: our arguments are quoted for it; the remote
    # command is the user's own and is used as written.
    return [*ssh, *SSH_OPTIONS, "--", check_host(host), f"{remote} {shlex.join(args)}"]


def explain(host: str, status: int, stderr: str) -> str:
    """One sentence for a remote run that ended with `status`."""
    said = " ".join(visible(line.strip(), 300) for line in stderr.strip().splitlines()[-3:])
    if status == SSH_FAILED:
        return f"cannot reach {host} with ssh: {said or 'ssh failed'}"
    if status == NOT_FOUND or (status == NOT_EXECUTABLE and "ermission" in said):
        where = os.environ.get(REMOTE_ENV, "").strip() or "portwatch"
        return (f"portwatch is not installed on {host} ({where!r}: {said or 'not found'});"
                f" {INSTALL_HINT.replace('HOST', host)}")
    if said.startswith("portwatch: "):
        said = said[len("portwatch: "):]
    return f"portwatch on {host} failed (exit status {status}): {said or 'no message'}"


def remote_text(line: str) -> str:
    """A line from the other machine, safe for this terminal."""
    return visible(line.rstrip("\r\n"))


def _text_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def from_record(record: object) -> AnnotatedListener:
    """A `list --json` / `watch --json` record from another machine as an AnnotatedListener
    (its catalog facts and risk are the ones the remote portwatch found). ValueError when it
    is not such a record."""
    if not isinstance(record, dict):
        raise ValueError("not a JSON object")
    try:
        proto = Proto(record["proto"])
        port = record["port"]
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValueError(f"bad port {port!r}")
        process = None
        pid = record.get("pid")
        if isinstance(pid, int) and not isinstance(pid, bool):
            cmdline = record.get("cmdline") or []
            process = ProcessInfo(pid, str(record.get("process") or "?"),
                                  _text_or_none(record.get("user")),
                                  _text_or_none(record.get("exe")),
                                  tuple(str(word) for word in cmdline)
                                  if isinstance(cmdline, list) else ())
        sock = Listener(proto, Family(record["family"]), str(record["address"]), port,
                        Exposure(record["exposure"]), process,
                        owner_hidden=bool(record.get("owner_hidden")),
                        hidden_reason=_text_or_none(record.get("hidden_reason")),
                        socket_user=_text_or_none(record.get("user")))
    except (KeyError, TypeError) as exc:
        raise ValueError(f"missing or wrong key {exc}") from None
    entry = None
    if "service" in record and record.get("risk") is not None:
        entry = CatalogEntry(port, proto, _text_or_none(record.get("service")),
                             _text_or_none(record.get("description")))
    assessment = None
    if record.get("risk") is not None:
        assessment = Assessment(Risk(record["risk"]), str(record.get("risk_reason") or ""))
    software = record.get("likely_software") or []
    uses = tuple(KnownUse(str(name), "") for name in software) if isinstance(software,
                                                                            list) else ()
    return AnnotatedListener(sock, entry, assessment, uses)


def event_time(record: dict) -> float:
    """The Unix time of a record's ISO-8601 "time" (now when it has none that parses)."""
    try:
        return calendar.timegm(time.strptime(str(record["time"]), "%Y-%m-%dT%H:%M:%SZ"))
    except (KeyError, ValueError):
        return time.time()
