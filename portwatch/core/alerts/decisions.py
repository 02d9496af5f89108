"""The user's decisions about alerts as values and words: ignore rules made from a listener, and
the sentences and table cells that describe rules and acknowledged listeners.

Process names and paths come from other programs: every text here has passed `visible()`, and
the GUI still shows it as plain text.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from portwatch.core.model import IgnoreRule, Listener, ListenerIdentity, Proto
from portwatch.core.text import visible

NAME_LIMIT = 80  # characters of a program shown in a sentence


class IgnoreScope(enum.StrEnum):
    """What an ignore rule made from one listener covers."""

    PROGRAM = "program"  # this program, on any port
    PORT = "port"  # any program, on this port
    RANGE = "range"  # any program, on a range of ports
    PROGRAM_PORT = "program-port"  # this program, on this port


@dataclass(frozen=True, slots=True)
class Decisions:
    """What the user told portwatch never to alert for, as the worker's memory holds it."""

    ignore_rules: tuple[IgnoreRule, ...] = ()
    acknowledged: tuple[ListenerIdentity, ...] = ()  # sorted by program, port, proto


def make_rule(scope: IgnoreScope, *, program: str | None = None, port_from: int | None = None,
              port_to: int | None = None, proto: Proto | None = None) -> IgnoreRule:
    """The rule for `scope`: `program` is a process name or executable path (PROGRAM and
    PROGRAM_PORT), `port_from` the port (PORT, PROGRAM_PORT) or with `port_to` the range
    (RANGE, in either order); `proto` None means TCP and UDP."""
    if scope in (IgnoreScope.PROGRAM, IgnoreScope.PROGRAM_PORT) and not program:
        raise ValueError("a rule about a program needs the program's name or path")
    if scope is not IgnoreScope.PROGRAM and port_from is None:
        raise ValueError("a rule about a port needs the port")
    if scope is IgnoreScope.PROGRAM:
        return IgnoreRule(process=program, proto=proto)
    if scope is IgnoreScope.RANGE:
        high = port_to if port_to is not None else port_from
        low, high = sorted((port_from, high))
        return IgnoreRule(port_from=low, port_to=high, proto=proto)
    return IgnoreRule(process=program if scope is IgnoreScope.PROGRAM_PORT else None,
                      port_from=port_from, port_to=port_from, proto=proto)


def program_choices(listener: Listener) -> list[str]:
    """The ways to name the listener's program in a rule: its name, then its executable when
    that says more (a rule on /usr/bin/python3.11 spares other programs named python3)."""
    proc = listener.process
    if proc is None:
        return []
    choices = [name for name in (proc.name, proc.exe) if name]
    return list(dict.fromkeys(choices))


def ports_text(rule: IgnoreRule) -> str:
    """"8000", "8000–8100" or "any" for a table cell."""
    if rule.port_from is None:
        return "any"
    high = rule.port_to if rule.port_to is not None else rule.port_from
    return str(rule.port_from) if high == rule.port_from else f"{rule.port_from}–{high}"


def proto_text(proto: Proto | None) -> str:
    return "TCP and UDP" if proto is None else proto.value.upper()


def program_text(program: str | None, limit: int | None = None) -> str:
    """A program for people: the name or path made visible, "any program" for None and
    "(hidden owner)" for the empty program of an identity whose owner was hidden."""
    if program is None:
        return "any program"
    return visible(program, limit) if program else "(hidden owner)"


def describe_rule(rule: IgnoreRule) -> str:
    """One sentence: "Never alert when python3 listens on port 8000/tcp."."""
    who = "any program" if rule.process is None else program_text(rule.process, NAME_LIMIT)
    if rule.port_from is None:
        where = {None: "on any port", Proto.TCP: "on any TCP port",
                 Proto.UDP: "on any UDP port"}[rule.proto]
    else:
        ports = ports_text(rule)
        noun = "port" if "–" not in ports else "ports"
        where = (f"on {noun} {ports} (TCP or UDP)" if rule.proto is None
                 else f"on {noun} {ports}/{rule.proto.value}")
    return f"Never alert when {who} listens {where}."


def describe_identity(identity: ListenerIdentity) -> str:
    """"/usr/bin/python3.11 on port 8000/tcp, loopback only"."""
    return (f"{program_text(identity.program, NAME_LIMIT)} on port"
            f" {identity.port}/{identity.proto.value}, {identity.exposure.label}")
