"""The fields of a listener, each declared once; every output is generated from `FIELDS`.

Their order is the order of the JSON record's keys, the CSV columns and the `list` and
`history` columns. `TABLE` and `WATCH_LINE` say which fields the compact views show, in which
order. A new fact about the owning process needs its declaration here and its reader in the
probe (`ProcessInfo` gets the attribute); the history keeps it in the event's `process` JSON
object, so the database needs no migration. The words of cells, tooltips, details facts and
command-line columns that the declarations name are in listener_text.py.
"""

from __future__ import annotations

import operator
import shlex
from collections.abc import Iterable
from typing import Any

from portwatch.core.fields import catalog_facts as facts
from portwatch.core.fields import connection_text as conn_text
from portwatch.core.fields.field import Field, Part, Read, Stored
from portwatch.core.fields.listener_text import (
    UNREADABLE,
    endpoint_line,
    exe_fact,
    flags_fact,
    owner_line,
    package_fact,
    parent_fact,
    process_cell,
    process_column,
    process_tip,
    risk_tip,
    security_tip,
    service_cell,
    service_column,
    service_line,
    service_tip,
    shared_fact,
    software_column,
    start_time_text,
    user_fact,
    uses_tip,
)
from portwatch.core.knowledge.origin_text import origin_facts, origin_label
from portwatch.core.knowledge.reach import reach_label, reach_text
from portwatch.core.model import (
    AnnotatedListener,
    ContainerInfo,
    Exposure,
    Package,
    ProcessInfo,
    Provenance,
    Risk,
)
from portwatch.core.probe.exposure import address_key
from portwatch.core.text import visible

_RISK_RANK = {risk: risk.rank for risk in Risk}
_EXPOSURES = {item.value: item for item in Exposure}
HIDDEN_PROCESS = "(hidden)"  # the process label of a socket whose owner the system did not name
UNKNOWN_RISK = "unknown"  # the risk label without a catalog


def container_name(container: ContainerInfo | None) -> str:
    """A container as one label value: its name, else its id, else ""."""
    if container is None:
        return ""
    return container.name or container.id or ""


def risk_value(item: AnnotatedListener) -> str:
    """The risk as a label value: "unknown" without a catalog."""
    return item.assessment.risk.value if item.assessment is not None else UNKNOWN_RISK


def _risk_sort(item: AnnotatedListener) -> int:
    # Ascending is the highest risk first (then by port), as Port ascending is the lowest
    # first: the first click on either header gives its usual order, with the same arrow.
    rank = _RISK_RANK[item.assessment.risk] if item.assessment is not None else -1
    return (len(Risk) - 1 - rank) * 100_000 + item.listener.port


_REACH_RANK = {"accept": 3, "unknown": 2, "reject": 1, "drop": 1}


def _reach_rank(item: AnnotatedListener) -> int:
    """Sort order of the Reach column: open to the network first, loopback last."""
    if item.firewall is None:
        return 0 if item.listener.exposure is Exposure.LOOPBACK else 2
    return _REACH_RANK.get(item.firewall.verdict, 2)


def container_record(container: ContainerInfo | None) -> dict[str, Any] | None:
    if container is None:
        return None
    return {"engine": container.engine, "id": container.id, "name": container.name,
            "image": container.image, "inner_process": container.inner_process}


def package_record(package: Package | None) -> dict[str, Any] | None:
    """{"manager", "name", "version"} of the package an executable came from, or None."""
    if package is None:
        return None
    return {"manager": package.manager, "name": package.name, "version": package.version}


def _provenance(item: AnnotatedListener) -> Provenance | None:
    proc = item.listener.process
    return proc.provenance if proc is not None else None


def _cmdline(value: object) -> tuple[str, ...]:
    return tuple(str(arg) for arg in value) if isinstance(value, list) else ()


def _proc(item: AnnotatedListener) -> ProcessInfo | None:
    return item.listener.process


def _owner(attr: str) -> Read:
    """The reader of one attribute of the owning process (None when the owner is unknown).
    `list --json` calls it for every listener: one Python call, the rest in C."""
    get = operator.attrgetter(attr)

    def read(item: AnnotatedListener) -> Any:
        proc = item.listener.process
        return get(proc) if proc is not None else None

    return read


def _texts(*values: str | None) -> Iterable[str]:
    return [value or "" for value in values]


FIELDS: tuple[Field, ...] = (
    Field("proto", "Proto", lambda i: i.listener.proto.value,
          text=lambda i: i.listener.proto.value.upper(), sort=lambda i: i.listener.proto.value,
          width=52, search=lambda i: (i.listener.proto.value,),
          cli="PROTO", cli_text=lambda r: r["proto"], metric=lambda i: i.listener.proto.value),
    Field("family", "Family", lambda i: i.listener.family.value),
    Field("address", "Address", lambda i: i.listener.address,
          tip="The address the socket is bound to (hover a cell for who can reach it)",
          text=lambda i: visible(i.listener.address, 60),
          sort=lambda i: address_key(i.listener.address),
          cell_tip=lambda i: [f"{visible(i.listener.endpoint)} — {i.listener.exposure.label}"],
          width=120, depends=frozenset({Part.EXPOSURE}),
          search=lambda i: (i.listener.address,),
          cli="ADDRESS", cli_text=lambda r: r["address"], line=endpoint_line,
          metric=lambda i: i.listener.address),
    Field("port", "Port", lambda i: i.listener.port,
          text=lambda i: str(i.listener.port), sort=lambda i: i.listener.port,
          width=58, right=True, search=lambda i: (str(i.listener.port),),
          cli="PORT", cli_text=lambda r: str(r["port"]), metric=lambda i: str(i.listener.port)),
    Field("exposure", "Exposure", lambda i: i.listener.exposure.value,
          text=lambda i: i.listener.exposure.label, sort=lambda i: i.listener.exposure.rank,
          width=110, cli="EXPOSURE", cli_text=lambda r: _EXPOSURES[r["exposure"]].label,
          line=lambda r: _EXPOSURES[r["exposure"]].label,
          metric=lambda i: i.listener.exposure.value),
    Field("pid", "PID", lambda i: i.listener.pid, owner=True,
          text=lambda i: str(i.listener.pid) if i.listener.process else "",
          sort=lambda i: i.listener.pid if i.listener.process is not None else -1,
          cell_tip=process_tip, width=62, right=True, depends=frozenset({Part.PROCESS}),
          search=lambda i: (str(i.listener.pid),) if i.listener.process else (),
          cli="PID", cli_text=lambda r: str(r["pid"]) if r["pid"] is not None else "-",
          fact=lambda s: str(s.pid)),
    Field("process", "Process", _owner("name"), owner=True,
          text=process_cell,
          sort=lambda i: _proc(i).name.casefold() if _proc(i) else "",
          cell_tip=process_tip, width=140, depends=frozenset({Part.PROCESS}),
          search=lambda i: (_proc(i).name,) if _proc(i) else (),
          cli="PROCESS", cli_elide=True, cli_text=process_column, line=owner_line,
          fact=lambda s: s.process.name, fact_label="Name",
          metric=lambda i: _proc(i).name if _proc(i) else HIDDEN_PROCESS,
          stored=Stored.PROCESS, attr="name", load=lambda value: value or "?"),
    # The owning process's user, else the socket's (known also when the owner is hidden).
    Field("user", "User", lambda i: i.listener.user, owner=True,
          text=lambda i: visible(i.listener.user, 40),
          sort=lambda i: (i.listener.user or "").casefold(),
          cell_tip=process_tip, width=80, depends=frozenset({Part.PROCESS}),
          search=lambda i: _texts(i.listener.user),
          cli="USER", cli_elide=True, in_history=False,
          cli_text=lambda r: visible(r["user"]) if r["user"] else "-",
          fact=user_fact,
          stored=Stored.PROCESS, attr="user"),
    Field("create_time", "Started", _owner("create_time"),
          json=False, fact=lambda s: start_time_text(s.process), stored=Stored.PROCESS,
          attr="create_time"),
    Field("exe", "Executable", _owner("exe"), owner=True,
          fact=exe_fact, mono=True,
          stored=Stored.PROCESS, attr="exe"),
    Field("cmdline", "Command line", lambda i: list(_proc(i).cmdline) if _proc(i) else None,
          owner=True,
          csv_text=lambda args: shlex.join(str(arg) for arg in args),  # as a shell quotes it
          fact=lambda s: " ".join(s.process.cmdline) if s.process.cmdline else UNREADABLE,
          mono=True,
          stored=Stored.PROCESS, attr="cmdline", load=_cmdline),
    Field("ppid", "Parent PID", _owner("ppid"),
          stored=Stored.PROCESS, attr="ppid"),
    Field("parent", "Parent", _owner("parent"),
          search=lambda i: _texts(_proc(i).parent) if _proc(i) else (),
          fact=parent_fact, stored=Stored.PROCESS, attr="parent"),
    # Every process holding the socket, the owner first.
    Field("holders", "Holders",
          lambda i: [{"pid": pid, "process": name} for pid, name in i.listener.holders],
          csv_text=lambda holders: "; ".join(f"{h['process']} ({h['pid']})" for h in holders),
          fact=shared_fact, fact_label="Shared", log=False, stored=Stored.NOT_STORED),
    # Provenance (judged live, not kept in the history): the executable, its package, flags.
    Field("exe_deleted", "Executable deleted",
          lambda i: p.exe_deleted if (p := _provenance(i)) else None,
          stored=Stored.NOT_STORED),
    Field("package", "Package",
          lambda i: package_record(p.package) if (p := _provenance(i)) else None,
          csv_text=lambda package: " ".join(str(part) for part in package.values() if part),
          fact=package_fact, stored=Stored.NOT_STORED),
    # Trust flags: the provenance probe's, and recognition's (a name claiming a program).
    Field("flags", "Look twice",
          lambda i: list(dict.fromkeys((*(p.flags if (p := _provenance(i)) else ()),
                                        *i.flags))),
          fact=flags_fact, warn=True, stored=Stored.NOT_STORED),
    Field("owner_hidden", "Owner hidden", lambda i: i.listener.owner_hidden),
    Field("hidden_reason", "Why the owner is hidden", lambda i: i.listener.hidden_reason),
    # What started it, and where (not kept in the history: its rows say null).
    Field("unit", "Unit", lambda i: i.listener.unit, metric=lambda i: i.listener.unit or "",
          stored=Stored.NOT_STORED),
    Field("container", "Container", lambda i: container_record(i.listener.container),
          csv_text=lambda c: " ".join(str(c.get(key) or "-") for key in
                                      ("engine", "name", "id", "image", "inner_process")),
          metric=lambda i: container_name(i.listener.container), stored=Stored.NOT_STORED),
    Field("netns", "Network namespace", lambda i: i.listener.netns,
          cli="NETNS", cli_elide=True, on_request=True, in_history=False,
          cli_text=lambda r: visible(r["netns"] or "host"),
          line=lambda r: f"netns {visible(r['netns'], 40)}" if r["netns"] else None,
          stored=Stored.NOT_STORED),
    # The table's "Started by" (unit, container or namespace), from the three above.
    Field("origin", "Started by", lambda i: origin_label(i.listener), json=False,
          column="ORIGIN", tip="The systemd unit, container or network namespace it belongs to",
          text=lambda i: visible(origin_label(i.listener), 120),
          sort=lambda i: origin_label(i.listener).casefold(),
          cell_tip=lambda i: [f"{label}: {visible(text, 600)}"
                              for label, text in origin_facts(i.listener)],
          width=200, depends=frozenset({Part.ORIGIN}),
          search=lambda i: (origin_label(i.listener),), stored=Stored.NOT_STORED),
    Field("service", "Service (registry)", lambda i: i.entry.service if i.entry else None,
          tip="What IANA registered this port for",
          text=service_cell,
          sort=lambda i: (i.entry.service or "").casefold() if i.entry else "",
          cell_tip=service_tip, width=130, depends=frozenset({Part.ENTRY}),
          search=lambda i: _texts(i.entry.service) if i.entry else (),
          cli="SERVICE", cli_elide=True, cli_text=service_column, line=service_line,
          stored=Stored.RECORDED),
    Field("description", "Description", lambda i: i.entry.description if i.entry else None,
          stored=Stored.RECORDED),
    Field("uses", "Known uses",
          lambda i: [use.text for use in i.entry.uses] if i.entry else None,
          tip="Software that really listens on this port in practice; when the listening"
              " program matches one, that one (hover a cell for the others)",
          text=lambda i: visible(facts.uses_text(i), 160) if i.entry else "",
          sort=lambda i: facts.uses_text(i).casefold(),
          cell_tip=uses_tip, width=190, depends=frozenset({Part.ENTRY, Part.LIKELY}),
          search=lambda i: [use.software for use in i.entry.uses] if i.entry else (),
          stored=Stored.NOT_STORED),
    Field("likely_software", "Likely software",
          lambda i: [use.software for use in i.likely_uses] if i.entry else None,
          cli="SOFTWARE", cli_elide=True, cli_text=software_column, in_history=False,
          stored=Stored.NOT_STORED),
    Field("recognised_by", "Recognised by", lambda i: i.recognised_by,
          stored=Stored.NOT_STORED),
    Field("security", "Security notes", facts.listener_notes,
          csv_text=lambda notes: "; ".join(f"{n['severity']}: {n['title']}" for n in notes),
          tip="What is known about this port's security history; notes about the"
              " listening program first (grey: none of the notes is about it)",
          text=lambda i: visible("; ".join(n.title for n in facts.notes_in_order(i)), 200)
          if i.entry else "",
          sort=lambda i: -facts.severity_sort_value(i),  # ascending: the most severe first
          cell_tip=security_tip, width=240, depends=frozenset({Part.ENTRY}),
          log=False, stored=Stored.NOT_STORED),
    Field("risk", "Risk", lambda i: i.assessment.risk.value if i.assessment else None,
          tip="How much to worry: the port's security notes weighed by who can reach it",
          text=lambda i: i.assessment.risk.label if i.assessment else "?",
          sort=_risk_sort, cell_tip=risk_tip, width=82,
          depends=frozenset({Part.ASSESSMENT}),
          cli="RISK", cli_text=lambda r: r["risk"] or "-",
          line=lambda r: f"risk {r['risk']}" if r["risk"] else None, metric=risk_value,
          stored=Stored.RECORDED),
    Field("risk_reason", "Why this risk",
          lambda i: i.assessment.reason if i.assessment else None, stored=Stored.RECORDED),
    # Effective reach: the bind exposure combined with the host firewall's verdict.
    Field("firewall", "Reach", lambda i: i.firewall.record() if i.firewall else None,
          column="REACH",
          tip="Who can really connect: the bind address combined with the host firewall's"
              " verdict for a new connection from outside (hover for the deciding rule)",
          text=lambda i: reach_label(i.listener, i.firewall),
          sort=_reach_rank,
          cell_tip=lambda i: [reach_text(i.listener, i.firewall)],
          depends=frozenset({Part.EXPOSURE, Part.FIREWALL}), stored=Stored.NOT_STORED),
    # Who is connected now (TCP listeners of the host's namespace; counted in the poll loop).
    Field("connections", "Connections",
          lambda i: i.connections.record() if i.connections else None,
          csv_text=conn_text.connections_csv,
          tip="Established connections now, and how many come from other machines (hover"
              " for the peers; the details list them)",
          text=lambda i: conn_text.connections_label(i.connections),
          sort=lambda i: (i.connections.established if i.connections else -1),
          cell_tip=conn_text.connections_tip, width=96, right=True,
          depends=frozenset({Part.CONNECTIONS}),
          cli="CONNS", in_history=False,
          cli_text=lambda r: conn_text.count_text(r.get("connections")),
          stored=Stored.NOT_STORED),
)

BY_KEY = {field.key: field for field in FIELDS}

# The listener table's columns, in order (the window adds "First seen" after them).
TABLE: tuple[Field, ...] = tuple(BY_KEY[key] for key in (
    "risk", "proto", "address", "port", "process", "pid", "user", "service", "uses", "security",
    "firewall", "connections", "origin",
))
# The columns of `history` and of the History tab after the time and the event: the
# command-line columns of `list` that a recorded event has.
HISTORY: tuple[Field, ...] = tuple(field for field in FIELDS
                                   if field.cli and field.in_history and not field.on_request)
# The parts of a `watch` line after its time and event, in order.
WATCH_LINE: tuple[Field, ...] = tuple(BY_KEY[key] for key in (
    "address", "process", "exposure", "netns", "service", "risk",
))
