"""`portwatch list [--json]`: one scan of every listening socket, with catalog meaning and risk."""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
from typing import TYPE_CHECKING, Any

from portwatch.commands.host_option import add_host_argument
from portwatch.commands.termwidth import add_width_options, output_width

# The rest loads when a run needs it: answered from the kept answer (list_saved), `list`
# needs none of the field declarations, the model's dataclasses, the catalog or the firewall.
if TYPE_CHECKING:
    from portwatch.core.model import AnnotatedListener, Snapshot


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "list",
        help="list every listening socket with its process, meaning and risk",
        description="One scan: every listening TCP socket and unconnected UDP socket, with the"
        " owning process, who can reach it, what the port is registered for and known risks."
        " The answer is kept in the data folder (list-answer-UID.json) and printed again, with"
        " the connections counted anew, while every input it was made from reads the same"
        " (sockets, owners, catalog and settings files, interfaces, firewall, privileges);"
        " PORTWATCH_NO_SAVED_ANSWER=1 neither uses nor keeps it.",
    )
    parser.add_argument("--json", action="store_true",
                        help="print one JSON array, one listener per line: the socket (proto,"
                        " family, address, port, exposure), its owner (pid, process, user, exe,"
                        " cmdline, owner_hidden, hidden_reason, …), the catalog's meaning"
                        " (service, description, uses, likely_software, security) and the risk"
                        " (risk, risk_reason); `portwatch list --json | head -3` shows every key")
    parser.add_argument("--all-netns", action="store_true",
                        help="also list the listeners of every other network namespace"
                        " (containers, `ip netns`, sandboxes; needs root to enter them)")
    add_host_argument(parser)
    parser.add_argument("--peers", action="store_true",
                        help="name the process on the other end of each local connection"
                        " (`connections.peers[].pid` in --json; reads every process's open"
                        " files, like ss -p)")
    add_width_options(parser)
    parser.set_defaults(run=run)


def annotate(snapshot: Snapshot, firewall: Any = None,
             problems: list[str] | None = None) -> list[AnnotatedListener]:
    """Join the scan with the catalog and the firewall's verdicts (the catalog's problems, e.g.
    a broken file of yours, go to stderr, and into `problems` when given)."""
    from portwatch.core.knowledge.catalog import load_catalog  # only when a scan needs it
    from portwatch.core.knowledge.reach import ReachAnnotator

    catalog = load_catalog()
    for problem in catalog.problems:
        print(f"portwatch: {problem}", file=sys.stderr)
    if problems is not None:
        problems.extend(catalog.problems)
    annotator = ReachAnnotator(catalog, firewall)
    return [annotator.annotate(item) for item in snapshot.listeners]


def sort_key(item: AnnotatedListener) -> tuple:
    from portwatch.core.probe.exposure import address_key

    sock = item.listener
    return (sock.port, sock.proto.value, address_key(sock.address), sock.pid or 0)


def connection_index(ports: list[int], local_addresses: Any, peers: bool = False) -> Any:
    """The established connections to these ports, by listener (a ConnectionIndex); None
    when the dump failed (said on stderr). With `peers`, local peers' processes are looked up
    (a walk of every process's fds, as `ss -p` does)."""
    from portwatch.core.probe.conndump import ConnectionDump
    from portwatch.core.probe.connections import ConnectionIndex
    from portwatch.core.probe.sockdiag import SockDiagError

    try:
        # the peers' own sockets (other local ports) are needed to name their processes
        conns = ConnectionDump().connections(None if peers else ports)
    except SockDiagError as exc:
        print(f"portwatch: connections unknown: {exc}", file=sys.stderr)
        return None
    owner_of = None
    if peers:
        from portwatch.core.probe.owners import OwnerMap

        owner_of = OwnerMap().resolve
    return ConnectionIndex(conns, local_addresses, owner_of)


def counted(rows: list[AnnotatedListener]) -> list[int]:
    """The ports of the rows whose connections are counted: TCP, this namespace."""
    from portwatch.core.model import Proto

    return [row.listener.port for row in rows
            if row.listener.proto is Proto.TCP and row.listener.netns is None]


def with_connections(rows: list[AnnotatedListener], firewall: Any, peers: bool,
                     index: Any = False) -> list[AnnotatedListener]:
    """The rows with who is connected to each TCP listener of this namespace (None for UDP,
    other namespaces, and for all when the dump failed: said on stderr). With `peers`, local
    peers' processes are looked up (a walk of every process's fds, as `ss -p` does). `index`:
    a connection_index made already (False: made here)."""
    import dataclasses

    from portwatch.core.model import Proto

    if index is False:
        index = connection_index(counted(rows), firewall.local_addresses(), peers)
    if index is None:
        return rows
    return [dataclasses.replace(row, connections=index.summary(row.listener))
            if row.listener.proto is Proto.TCP and row.listener.netns is None else row
            for row in rows]


def run(args: argparse.Namespace) -> int:
    if args.host:
        from portwatch.commands.remote_cli import run_list

        return run_list(args)
    attempt = None
    if not args.all_netns and not args.peers and os.environ.get("PORTWATCH_NO_SAVED_ANSWER") != "1":
        from portwatch.commands.list_saved import Attempt

        attempt = Attempt.make(args)  # the answer kept by the last run, when still true
        if attempt is not None and attempt.printed:
            return 0
    from portwatch.core.firewall import Firewall
    from portwatch.core.firewall.saved import default_ruleset_cache
    from portwatch.core.output import records
    from portwatch.core.probe import default_owner_cache, scan_listeners

    firewall = Firewall(saved=default_ruleset_cache())  # nft's ruleset by generation
    firewall.prefetch()  # nft and ip run while we scan
    snapshot = scan_listeners(owner_cache=default_owner_cache(),  # warm from the last run
                              all_netns=args.all_netns,
                              warm=attempt.warm if attempt is not None else None,
                              only=attempt.only() if attempt is not None else None)
    catalog_problems: list[str] = []
    if attempt is None:
        rows = with_connections(sorted(annotate(snapshot, firewall, catalog_problems),
                                       key=sort_key), firewall, args.peers)
    for problem in snapshot.problems:
        print(f"portwatch: {problem}", file=sys.stderr)
    if attempt is not None:  # the same output, made from what is kept for the next run
        import dataclasses

        from portwatch.commands.list_saved import columns, render_answer

        # the scan made rows only for the sockets with no proven kept row: those are annotated
        fresh, kept = attempt.reusable(snapshot.listeners)
        rows = annotate(dataclasses.replace(snapshot, listeners=tuple(fresh)), firewall,
                        catalog_problems)
        ports = counted(rows) + [item.port for item in kept if item.after is not None]
        index = connection_index(ports, firewall.local_addresses())
        rows = with_connections(rows, firewall, False, index)
        reused = [(item, index.summary(item).record()
                   if index is not None and item.after is not None else None) for item in kept]
        layout = columns()
        lines, connections = attempt.keep(rows, reused, catalog_problems, layout,
                                          not args.json)
        sys.stdout.write(render_answer(args, lines, connections, layout))
        return 0
    if args.json:
        # One listener per line, in one write: json.dump(indent=...) uses the pure-Python
        # encoder and writes each token separately (180,000 writes for 2,000 listeners, each
        # a system call when stdout is unbuffered); this is 4-10x faster and as easy to grep.
        lines = ",\n".join(json.dumps(records.listener_record(row)) for row in rows)
        sys.stdout.write(f"[\n{lines}\n]\n" if rows else "[]\n")
        return 0
    width = output_width(args, sys.stdout)
    print_table(rows, sys.stdout, width, netns=args.all_netns)
    if snapshot.hidden_count:
        reason = next(r.listener.hidden_reason for r in rows if r.listener.owner_hidden)
        text = f"{snapshot.hidden_count} owner(s) hidden: {reason}"
        lines = textwrap.wrap(text, width, break_long_words=False) if width else [text]
        sys.stdout.write("\n" + "\n".join(lines) + "\n")
    return 0


def print_table(rows: list[AnnotatedListener], out: Any, width: int | None = None,
                netns: bool = False) -> None:
    """The table, fitted to `width` columns (None: every cell in full); with `netns`, a last
    column names each row's network namespace."""
    from portwatch.commands import table
    from portwatch.core.fields import BY_KEY
    from portwatch.core.output import records

    columns = table.LIST_COLUMNS + ((BY_KEY["netns"],) if netns else ())
    table.print_table(table.headers(columns),
                      [table.cells(records.listener_record(row), columns) for row in rows],
                      out, right=table.right_aligned(columns), elide=table.elidable(columns),
                      width=width)
    if not rows:
        out.write("(no listening sockets found)\n")
