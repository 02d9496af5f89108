"""`portwatch list`'s last answer, kept between runs and reused row by row only when proven.

A one-shot `list` spends most of its time turning 2,000 sockets into rows (their owners'
details, the catalog, the firewall's verdict, the risk) and the rows into JSON and text,
although between two runs almost nothing changed. `store()` keeps each row's JSON line (cut
where its `connections` go) and its `list` cells, with what the row was made from; `answer()`
gives the lines again only when every input reads the same now:

- the socket: listed again over netlink every run (proto, family, address, port, its uid),
  with its holders from the owner map (probe/owners.py, re-checked as for any scan);
- each holder's facts (probe/answer_inputs.owner_facts: name, start time, command line,
  executable link, uid, cgroup, root, its folder's mode, its parent), compared one by one;
- the system's (answer_inputs.system_facts): portwatch's version and code, the catalog
  files (bundled and yours), settings, os-release, the user and package databases, the
  ephemeral port range, the interfaces and addresses; for a row with a firewall verdict
  (not loopback) also nftables' generation id, forwarding and routes — never provable while
  iptables-legacy tables are loaded;
- the boot and the privileges (uid and capabilities) it was made with, as every saved cache.

Rows whose answer depends on something not compared are never reused: a service manager's
(socket units over D-Bus), a container's or a container forwarder's (the engines' APIs).
`answer()` gives the proven rows and says how many are not: `list` prints the kept answer when
all are, else scans and annotates only the others, and keeps the answer again. When an input
of every row changed (a file, the interfaces, portwatch itself), nothing is reused.
Connections are never kept: they are counted at every run and put into each line.
The file is this user's cache (core/files/cache.py: 0600, written atomically, ignored when
another user could have written it); a broken one is ignored with a log line.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable
from typing import NamedTuple

from portwatch import __version__
from portwatch.core.files.cache import read_cache_bytes, write_cache_text
from portwatch.core.probe.kernel import boot_id, privileges

log = logging.getLogger(__name__)

FORMAT = 1
_MARK = "@@portwatch-connections@@"
_SPLIT = f'"connections": "{_MARK}"'
# most listeners have no connection: their object is written once
_NONE = {"established": 0, "distinct_addresses": 0, "remote_peers": 0, "local_peers": 0,
         "peers": []}
_NONE_TEXT = json.dumps(_NONE)


def default_path() -> str:
    from portwatch.core.files.paths import data_dir

    uid = os.geteuid() if hasattr(os, "geteuid") else 0
    return str(data_dir() / f"list-answer-{uid}.json")


def watched_files() -> list[str]:
    """The files a row's catalog meaning, risk and user names are made from."""
    import portwatch
    from portwatch.core.files import paths

    data = os.path.join(os.path.dirname(os.path.dirname(portwatch.__file__)), "data")
    bundled = []
    try:
        import portwatch.data as package

        data = os.path.dirname(package.__file__ or "") or data
    except ImportError:
        pass
    for name in ("registry.json", "curated.json"):
        bundled.append(os.path.join(data, name))
    catalog = str(paths.user_catalog_dir())
    try:
        user = sorted(os.path.join(catalog, name) for name in os.listdir(catalog))
    except OSError:
        user = []
    return [*bundled, catalog, *user, str(paths.settings_file()), "/etc/os-release",
            "/etc/passwd", "/etc/group", "/var/lib/dpkg/status", "/var/lib/dpkg/info",
            "/var/lib/rpm"]


def code_root() -> str:
    import portwatch

    return os.path.dirname(portwatch.__file__)


class Inputs:
    """The system's facts now, read once per run (see answer_inputs)."""

    def __init__(self, system: dict) -> None:
        self.system = system

    @classmethod
    def read(cls) -> Inputs:
        from portwatch.core.probe.answer_inputs import system_facts

        return cls(system_facts(watched_files(), code_root()))

    def header(self) -> dict:
        return {"format": FORMAT, "version": __version__, "boot": boot_id(),
                "privileges": privileges()}

    def comparable(self) -> dict:
        """JSON's own form (lists, not tuples), as the saved copy reads back."""
        return json.loads(json.dumps(self.system))


def line_parts(record: dict) -> tuple[str, str | None]:
    """A record's JSON line, cut where the live `connections` go: (before, after); after is
    None when the record has no connections object (UDP, other namespaces)."""
    if record.get("connections") is None:
        return json.dumps(record), None
    text = json.dumps({**record, "connections": _MARK})
    before, found, after = text.rpartition(_SPLIT)
    if not found:
        return json.dumps(record), None
    return before + '"connections": ', after


def _never_reusable() -> Callable[[dict, str | None], bool]:
    """A test for rows made from what is not compared (see the module's doc)."""
    from portwatch.core.probe.containers import container_id_of_cgroup, forwarder_engine
    from portwatch.core.probe.units import MANAGERS

    def never(record: dict, cgroup: str | None) -> bool:
        if record.get("container") is not None or record.get("netns") is not None:
            return True
        process = record.get("process")
        if process in MANAGERS or record.get("pid") == 1:  # socket units
            return True
        if process and forwarder_engine(process):
            return True
        return bool(cgroup) and container_id_of_cgroup(cgroup) is not None

    return never


def store(path: str, inputs: Inputs, after: Inputs,
          entries: Iterable[tuple[dict, dict | None, Kept]],
          owners_before: dict[int, list | None], problems: list[str], columns: dict) -> None:
    """Keep this run's rows: (its live row as `answer` takes them, record — None for a row
    taken from the kept answer —, output) each. A row
    is kept only when the system read the same before and after the scan (`inputs`, `after`)
    and so did each of its holders' facts (`owners_before`, read before the scan, and now):
    a change while the answer was made would otherwise pass for the state the rows show.
    Never raises: a lost answer costs the next run the work it saved."""
    from portwatch.core.probe.answer_inputs import owner_facts

    if inputs.system != after.system:
        log.debug("not keeping the answer: the system changed while it was made")
        return
    facts: dict[int, list | None] = {}
    shared: dict = {}
    kept: list[list] = []
    texts: list[str] = []
    afters: list[str] = []
    cell_lines: list[str] = []
    never = _never_reusable()
    for row, record, made in entries:
        holders = row["holders"]
        for pid in holders:
            if pid not in facts:
                now = owner_facts(pid, shared=shared)
                facts[pid] = now if now is not None and now == owners_before.get(pid) else None
        owner = facts.get(row["pid"]) if row["pid"] is not None else None
        if any(facts[pid] is None for pid in holders) or (
                record is not None and never(record, owner[6] if owner else None)):
            continue  # (a row kept before, `record` None, passed `never` then)
        firewall = made.firewall if record is None else (
            record.get("firewall") is not None or record.get("exposure") != "loopback")
        kept.append([row["proto"], row["family"], row["address"], row["port"], row["pid"],
                     row["uid"], holders, row["sort"], firewall, made.after is not None,
                     made.hidden])
        texts.append(made.before)
        afters.append(made.after or "")
        cell_lines.append(made.cells)
    saved = {**inputs.header(), "system": inputs.system, "problems": problems,
             "columns": columns, "owners": {str(pid): f for pid, f in facts.items()
                                            if f is not None},
             "rows": kept}
    # The rows' JSON lines (their parts before and after the connections) and cells as lines
    # of their own after the rest (json.dumps never writes a newline into one): splitting them
    # is ~10x faster than decoding them as JSON strings, and `list --json` reads no cells.
    try:
        write_cache_text(path, "\n".join([json.dumps(saved, separators=(",", ":")), *texts,
                                          *afters, *cell_lines]))
    except (OSError, TypeError, ValueError) as exc:
        log.debug("could not keep the answer in %s: %s", path, exc)


class Kept(NamedTuple):
    """One kept row: its socket and holders as `answer` compares them, and its output."""

    proto: str
    family: str
    address: str
    port: int
    pid: int | None
    uid: int
    holders: list[int]
    sort: tuple  # list's order: port, proto, address key, pid
    firewall: bool  # its answer depends on the firewall (not loopback)
    before: str  # its JSON line up to `"connections": ` (all of it when after is None)
    after: str | None  # the rest after the connections object; None: no connections (UDP)
    cells: str  # its `list` cells, a JSON array (the CONNS cell is made anew): `cell_list()`;
    # "" when it was kept by `list --json`, which makes none
    hidden: str | None  # why its owner is hidden, for the note under the table

    @classmethod
    def parse(cls, row: list, before: str, after: str, cells: str) -> Kept:
        """From the file (raises TypeError or ValueError when it is not one)."""
        proto, family, address, port, pid, uid, holders, sort, firewall, has_after, hidden = row
        # cheap checks here (2,000 rows); what they leave (each holder's type, the sort keys'
        # types, the cells) fails the comparisons of `answer` or `cell_list`: no answer
        "".join((proto, family, address, hidden or ""))  # TypeError unless texts
        if not (type(port) is int and type(uid) is int and type(holders) is list
                and (pid is None or type(pid) is int) and type(sort) is list):
            raise TypeError(f"not a kept row: {row!r:.200}")
        return cls(proto, family, address, port, pid, uid, holders, tuple(sort),
                   bool(firewall), before, after if has_after else None, cells, hidden)

    def cell_list(self) -> list[str]:
        """Its cells (raises TypeError or ValueError when the file's are not texts)."""
        cells = json.loads(self.cells)
        if type(cells) is not list:
            raise TypeError("the cells are not a list")
        "".join(cells)  # TypeError unless all texts
        return cells

    def json_line(self, connections: dict | None) -> str:
        """Its JSON line with the connections counted now."""
        if self.after is None:
            return self.before
        text = _NONE_TEXT if connections == _NONE else json.dumps(connections)
        return self.before + text + self.after


class Saved:
    """A kept answer that fits this boot, version and privileges (else `load` gives None)."""

    def __init__(self, value: dict, texts: list[str]) -> None:
        rows = value["rows"]
        count = len(rows)
        if len(texts) != 3 * count:
            raise ValueError("the lines do not match the rows")
        self.system: dict = dict(value["system"])
        self.problems: list[str] = [str(p) for p in value["problems"]]
        self.columns: dict = dict(value["columns"])
        self.owners: dict[int, list] = {int(pid): f for pid, f in value["owners"].items()}
        self.rows: dict[tuple, Kept] = {}
        for number, row in enumerate(rows):
            kept = Kept.parse(row, texts[number], texts[count + number],
                              texts[2 * count + number])
            self.rows[kept[:5]] = kept

    @classmethod
    def load(cls, path: str, header: dict) -> Saved | None:
        if not os.path.exists(path):
            return None
        data = read_cache_bytes(path)
        if data is None:
            log.info("ignoring %s: not this user's own private file", path)
            return None
        try:
            lines = data.decode("utf-8").split("\n")
            value = json.loads(lines[0])
            if not isinstance(value, dict):
                raise TypeError("not an object")
            if any(value.get(key) != wanted for key, wanted in header.items()):
                log.debug("not reusing %s: another boot, version, format or privileges", path)
                return None
            return cls(value, lines[1:])
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
            log.info("ignoring %s: damaged (%r)", path, exc)
            return None


def answer(saved: Saved, system: dict, live: list[dict], facts: Callable[[int], list | None],
           cells: bool = False) -> tuple[list[Kept], int] | None:
    """The kept rows proven for the `live` rows (each: proto, family, address, port, pid, uid,
    holders) in `list`'s order, and how many live rows have none (they are made afresh); None
    when an input of every row changed (the system's). With `cells` (the table), a row kept
    by `list --json`, without cells, is not one."""
    firewall_ok = saved.system.get("firewall") is not None and \
        saved.system.get("firewall") == system.get("firewall")
    if {k: v for k, v in saved.system.items() if k != "firewall"} != \
            {k: v for k, v in system.items() if k != "firewall"}:
        log.debug("saved answer: the system's inputs changed")
        return None
    proven: dict[int, bool] = {}
    found = []
    missing = 0
    for row in live:
        kept = saved.rows.get((row["proto"], row["family"], row["address"], row["port"],
                               row["pid"]))
        ok = kept is not None and kept.uid == row["uid"] and kept.holders == row["holders"] \
            and (firewall_ok or not kept.firewall) and (kept.cells != "" or not cells)
        for pid in row["holders"] if ok else ():
            if pid not in proven:
                known = saved.owners.get(pid)
                proven[pid] = known is not None and known == facts(pid)
            ok = ok and proven[pid]
        if ok and kept is not None:
            found.append(kept)
        else:
            missing += 1
            if missing <= 3:  # the first few say why
                log.debug("saved answer: no proven row for %s", row)
    try:
        found.sort(key=lambda kept: kept.sort)
    except TypeError:  # a damaged file's sort keys
        return None
    return found, missing
