"""`portwatch list` answered from its kept answer when every input is proven unchanged, and
the answer kept for the next run (core/output/saved_list.py says what is compared).

The quick way loads none of the catalog, the firewall, the field declarations or the model's
dataclasses: the sockets over netlink, the owner map, each holder's facts, the kept lines, and
the connections counted now. When some rows are not proven, the scan that follows annotates
only those (`Attempt.reusable`) and `Attempt.keep` merges both into the output.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from typing import Any

from portwatch.core.output import saved_list

log = logging.getLogger(__name__)


class Attempt:
    """What was read before the scan: the system's inputs, the live rows and their holders'
    facts; `printed` when the kept answer was the answer."""

    def __init__(self, path: str, inputs: saved_list.Inputs, live: list[dict] | None,
                 facts: dict[int, list | None]) -> None:
        self.path, self.inputs, self.live, self.facts = path, inputs, live, facts
        self.printed = False
        self.warm: tuple | None = None  # the owner map it resolved, for the scan that follows
        # the kept rows still true, by proto, family, address, port and pid, when some were
        # not: the scan that follows annotates only the others
        self.proven: dict[tuple, saved_list.Kept] = {}

    @classmethod
    def make(cls, args: argparse.Namespace) -> Attempt | None:
        """None when nothing may be kept (no data folder: `list` alone creates nothing)."""
        from portwatch.core.probe.answer_inputs import live_rows, owner_facts
        from portwatch.core.probe.owner_cache import default_owner_cache

        path = saved_list.default_path()
        if not sys.platform.startswith("linux") or not os.path.isdir(os.path.dirname(path)):
            return None  # (the sockets and holders come over netlink, Linux's)
        inputs = saved_list.Inputs.read()
        cache = default_owner_cache()
        try:
            now = live_rows(cache)
        except OSError as exc:  # netlink refused: the scan says what it can
            log.debug("no kept answer: the sockets could not be listed (%s)", exc)
            now = None
        live = now.rows if now is not None else None
        facts: dict[int, list | None] = {}
        shared: dict = {}
        for row in live or ():
            for pid in row["holders"]:
                if pid not in facts:
                    facts[pid] = owner_facts(pid, shared=shared)
        attempt = cls(path, inputs, live, facts)
        attempt.warm = now.warm if now is not None else None
        if now is not None:
            saved = saved_list.Saved.load(path, inputs.header())
            result = saved_list.answer(saved, inputs.comparable(), now.rows, facts.get,
                                       cells=not args.json) if saved is not None else None
            if result is not None and saved is not None and not result[1]:
                attempt.printed = attempt._print(args, saved, result[0])
            elif result is not None:
                attempt.proven = {kept[:5]: kept for kept in result[0]}
                log.debug("%d rows from the kept answer, %d made afresh", len(result[0]),
                          result[1])
            if attempt.printed:
                log.debug("answered from the kept answer %s (%d rows)", path, len(now.rows))
                now.save(cache)  # no scan follows to keep what the owner map learnt
        return attempt

    def _print(self, args: argparse.Namespace, saved: saved_list.Saved,
               found: list[saved_list.Kept]) -> bool:
        """Print the kept answer; False (nothing printed) when the file's rows turn out
        damaged as they are rendered."""
        connections = self._connections(found)
        try:
            text = render_answer(args, found, connections, saved.columns)
        except (TypeError, ValueError, KeyError, IndexError) as exc:
            log.info("ignoring %s: damaged (%r)", self.path, exc)
            return False
        for problem in saved.problems:
            print(f"portwatch: {problem}", file=sys.stderr)
        sys.stdout.write(text)
        return True

    def _connections(self, found: list[saved_list.Kept]) -> list[dict | None]:
        from portwatch.commands.listing import connection_index
        from portwatch.core.probe.answer_inputs import local_addresses

        index = connection_index([kept.port for kept in found if kept.after is not None],
                                 local_addresses(self.inputs.system["interfaces"] or []))
        return [index.summary(kept).record() if index is not None and kept.after is not None
                else None for kept in found]

    def only(self) -> Any:
        """For the scan: a test of the sockets without a proven kept row (None: scan all)."""
        if not self.proven or self.live is None:
            return None
        wanted = {(r["proto"], r["family"], r["address"], r["port"]) for r in self.live
                  if (r["proto"], r["family"], r["address"], r["port"], r["pid"])
                  not in self.proven}
        return lambda item: (item.proto.value, item.family.value, item.address,
                             item.port) in wanted

    def reusable(self, listeners: tuple) -> tuple[list, list[saved_list.Kept]]:
        """The scanned listeners without a proven kept row, and the proven kept rows (those
        the scan also saw with other holders are made afresh instead)."""
        if not self.proven:
            return list(listeners), []
        fresh, kept = [], dict(self.proven)
        for item in listeners:
            key = (item.proto.value, item.family.value, item.address, item.port, item.pid)
            found = kept.get(key)
            if found is None or found.holders != [h.pid for h in item.holders]:
                fresh.append(item)
                kept.pop(key, None)
        return fresh, list(kept.values())

    def keep(self, rows: list[Any], reused: list[tuple[saved_list.Kept, dict | None]],
             problems: list[str], columns: dict, cells_needed: bool
             ) -> tuple[list[saved_list.Kept], list[dict | None]]:
        """The annotated `rows` and the `reused` kept rows (with their connections now) as kept
        lines in `list`'s order, and their connections (to print them with `render_answer`;
        the cells made when `cells_needed`: for `list`, not `--json`); kept for the next run
        when proven (a
        first run, with no owner map to read holders' facts before the scan, keeps nothing)."""
        from portwatch.commands import table
        from portwatch.core.output import records
        from portwatch.core.probe.exposure import address_key

        live = {(r["proto"], r["family"], r["address"], r["port"], r["pid"]): r
                for r in self.live or ()}
        made_rows: list[tuple[tuple, saved_list.Kept, dict | None]] = []
        entries: list[tuple[dict, dict | None, saved_list.Kept]] = []
        for row in rows:
            sock = row.listener
            record = records.listener_record(row)
            # `list --json` keeps no cells: a later `list` makes its rows afresh once
            cells = json.dumps(list(table.cells(record, table.LIST_COLUMNS))) \
                if cells_needed else ""
            before, after = saved_list.line_parts(record)
            order = (sock.port, sock.proto.value, address_key(sock.address), sock.pid or 0)
            made = saved_list.Kept(
                sock.proto.value, sock.family.value, sock.address, sock.port, sock.pid, 0, [],
                order, False, before, after, cells,
                sock.hidden_reason if sock.owner_hidden else None)
            made_rows.append((order, made, record.get("connections")))
            seen = live.get(made[:5])
            if seen is not None and seen["holders"] == [h.pid for h in sock.holders]:
                entries.append(({**seen, "sort": list(order)}, record, made))
        for kept, connections in reused:
            made_rows.append((kept.sort, kept, connections))
            seen = live.get(kept[:5])
            if seen is not None:
                entries.append(({**seen, "sort": list(kept.sort)}, None, kept))
        made_rows.sort(key=lambda item: item[0])  # list's order: port, proto, address, pid
        if self.live is not None:
            saved_list.store(self.path, self.inputs, saved_list.Inputs.read(), entries,
                             self.facts, problems, columns)
        return [made for _, made, _ in made_rows], [conns for _, _, conns in made_rows]


def columns() -> dict:
    """How `list`'s table is laid out (kept with the answer: the quick way loads no fields)."""
    from portwatch.commands import table

    cols = table.LIST_COLUMNS
    return {"headers": list(table.headers(cols)), "right": sorted(table.right_aligned(cols)),
            "elide": sorted(table.elidable(cols)),
            "connections": [field.key for field in cols].index("connections")}


def render_answer(args: argparse.Namespace, lines: list[saved_list.Kept],
                  connections: list[dict | None], layout: dict) -> str:
    """The output of kept lines (JSON or the table) with each row's connections now."""
    if args.json:
        text = ",\n".join(kept.json_line(conns)
                          for kept, conns in zip(lines, connections, strict=True))
        return f"[\n{text}\n]\n" if lines else "[]\n"
    from portwatch.commands.termwidth import output_width, table_lines
    from portwatch.core.model.connection import count_text

    width = output_width(args, sys.stdout)
    at = layout["connections"]
    rows = []
    for kept, conns in zip(lines, connections, strict=True):
        cells = kept.cell_list()
        cells[at] = count_text(conns)
        rows.append(cells)
    out = [line + "\n" for line in table_lines(layout["headers"], rows, width,
                                                set(layout["right"]), set(layout["elide"]))]
    if not lines:
        out.append("(no listening sockets found)\n")
    hidden = [kept.hidden for kept in lines if kept.hidden is not None]
    if hidden:
        import textwrap

        text = f"{len(hidden)} owner(s) hidden: {hidden[0]}"
        wrapped = textwrap.wrap(text, width, break_long_words=False) if width else [text]
        out.append("\n" + "\n".join(wrapped) + "\n")
    return "".join(out)
