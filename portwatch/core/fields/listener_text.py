"""The words of a listener's fields: table cells and their tooltips, the details pane's facts
about the owning process, the command-line columns and `watch` line parts. The declarations
in listener.py name these functions; text from other programs goes through `visible()`.
"""

from __future__ import annotations

import time

from portwatch.core.fields import catalog_facts as facts
from portwatch.core.fields.field import Record
from portwatch.core.model import FLAG_TEXT, AnnotatedListener, Family, Listener, ProcessInfo
from portwatch.core.text import visible

UNREADABLE = "unknown (not readable)"
FLAG_MARKER = "\u26a0 "  # ⚠ before a process whose provenance deserves a second look


def socket_user_text(user: str) -> str:
    """The socket's user, for a listener whose owning process is not known: the kernel
    records it for every socket (root's for a kernel socket), so it names no process."""
    return f"{user} (the user the kernel records for the socket)"


def process_tip(item: AnnotatedListener) -> list[str]:
    sock = item.listener
    proc = sock.process
    if proc is None:
        lines = ([f"Socket user: {socket_user_text(visible(sock.socket_user))}."]
                 if sock.socket_user else [])
        return [*lines, visible(sock.hidden_reason) or "owner unknown"]
    lines = [f"{visible(proc.name)} (PID {proc.pid}, user {visible(sock.user) or '?'})"]
    if proc.exe:
        lines.append(visible(proc.exe))
    if proc.cmdline:
        lines.append(visible(" ".join(proc.cmdline), 2000))
    provenance = proc.provenance
    for flag in provenance.flags if provenance is not None else ():
        lines.append(f"\u26a0 {FLAG_TEXT.get(flag, flag)}")
    if sock.shared_with:
        others = ", ".join(f"{visible(name, 40)} ({pid})" for pid, name in sock.holders[1:])
        lines.append(f"Shared with {others}")
    return lines


def service_tip(item: AnnotatedListener) -> list[str]:
    entry = item.entry
    if entry is None:
        return []
    if entry.registered:
        return [f"{visible(entry.service)}: {visible(entry.description)}"]
    return ["not registered with IANA"]


def uses_tip(item: AnnotatedListener) -> list[str]:
    entry = item.entry
    if entry is None:
        return []
    likely = item.likely_uses
    others = [use for use in entry.uses if use not in likely]
    lines: list[str] = []
    if likely:
        lines.append("Matches the listening program:")
        lines.extend(visible(use.text, 400) for use in likely)
        if others:
            lines += ["", "Also known on this port (other programs):"]
    lines.extend(visible(use.text, 400) for use in others)
    return lines


def security_tip(item: AnnotatedListener) -> list[str]:
    if item.entry is None:
        return []
    counted = facts.applicable(item)
    lines = []
    for note in facts.notes_in_order(item):
        context = "" if note in counted else (
            " — about other software: does not count toward the risk")
        lines.append(f"[{note.severity.value}] {visible(note.title)} ({visible(note.kind)})"
                     f"{context}")
        lines.append(visible(note.note, 600))
    return lines


def risk_tip(item: AnnotatedListener) -> list[str]:
    if item.assessment is None:
        return []
    return [f"{item.assessment.risk.label} risk: {visible(item.assessment.reason)}"]


def process_cell(item: AnnotatedListener) -> str:
    """The name, a ⚠ when a trust flag is raised, and "shared with N processes" when other
    processes hold the socket too."""
    sock = item.listener
    proc = sock.process
    if proc is None:
        return "(hidden)" if sock.owner_hidden else ""
    text = visible(proc.name, 80)
    if proc.provenance is not None and proc.provenance.flags:
        text = FLAG_MARKER + text
    others = sock.shared_with
    if others:
        text += f" (shared with {others} process{'es' if others > 1 else ''})"
    return text


def service_cell(item: AnnotatedListener) -> str:
    entry = item.entry
    if entry is None:
        return ""
    return visible(entry.service, 40) if entry.service else "(not registered)"


def start_time_text(proc: ProcessInfo) -> str | None:
    if proc.create_time is None:
        return None
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(proc.create_time))


def parent_fact(sock: Listener) -> str | None:
    proc = sock.process
    if proc is None or proc.ppid is None:
        return None
    return f"{proc.parent or 'unknown'} (PID {proc.ppid})"


def user_fact(sock: Listener) -> str:
    user = sock.user
    if user is None:
        return UNREADABLE
    if sock.socket_user and sock.socket_user != user:
        return f"{user} (the socket was created by user {sock.socket_user})"
    return user


def shared_fact(sock: Listener) -> str | None:
    count = sock.shared_with
    if not count:
        return None
    others = ", ".join(f"{name} ({pid})" for pid, name in sock.holders[1:])
    return (f"shared with {count} process{'es' if count > 1 else ''}: {others}"
            " (this one is the holder the others descend from, or the oldest)")


def exe_fact(sock: Listener) -> str:
    proc = sock.process
    assert proc is not None
    exe = proc.exe or UNREADABLE
    if proc.provenance is not None and proc.provenance.exe_deleted:
        exe += (" — deleted or replaced since the process started (the hash is of the running"
                " image)")
    return exe


def package_fact(sock: Listener) -> str | None:
    provenance = sock.process.provenance if sock.process else None
    if provenance is None:
        return None
    package = provenance.package
    if package is not None:
        version = f" {package.version}" if package.version else ""
        return f"{package.name}{version} ({package.manager})"
    if provenance.exe_deleted is not None:
        return "none known: no package manager installed this file"
    return None


def flags_fact(sock: Listener) -> str | None:
    provenance = sock.process.provenance if sock.process else None
    if provenance is None or not provenance.flags:
        return None
    return "; ".join(FLAG_TEXT.get(flag, flag) for flag in provenance.flags)


def process_column(record: Record) -> str:
    if record["process"] is not None:
        return visible(record["process"])  # cut to the width by commands/table.py
    return "(hidden)" if record["owner_hidden"] else "-"


def service_column(record: Record) -> str:
    """"-" when nothing is known about the port (no catalog, or a history event that recorded
    no service), "(not registered)" when the catalog knows the port but IANA does not."""
    if record["service"]:
        return visible(record["service"])
    return "(not registered)" if record["uses"] is not None else "-"


def software_column(record: Record) -> str:
    likely = record["likely_software"]
    return visible(facts.short_name(likely[0])) if likely else "-"


def endpoint_line(record: Record) -> str:
    address = record["address"]
    where = f"[{address}]" if record["family"] == Family.IPV6.value else address
    return f"{record['proto']} {where}:{record['port']}"


def owner_line(record: Record) -> str:
    if record["pid"] is not None:
        return f"{visible(record['process'], 40)} (pid {record['pid']})"
    if record["user"]:  # the socket's user, known also when its owner is hidden
        return f"(hidden owner, user {visible(record['user'], 32)})"
    return "(hidden owner)"


def service_line(record: Record) -> str | None:
    if record["uses"] is None:  # no catalog entry: nothing to say about the port
        return None
    return visible(record["service"], 30) if record["service"] else "unregistered"
