"""The Linux fast path of the scanner: sockets over netlink sock_diag, owners from a kept map.

`FastPath.scan()` lists listening sockets with `sockdiag`, finds each one's holders with the
inode -> process map of `owners` (restored from and saved to the owner cache of one-shot
scans) and builds the rows as the portable psutil path would (see scanner.py).
"""

from __future__ import annotations

import logging
import os
import pwd
from collections.abc import Callable
from typing import Any

from portwatch.core.model import Holder, Listener, ProcessInfo
from portwatch.core.probe.exposure import classify
from portwatch.core.probe.hidden import hidden_reason as current_hidden_reason
from portwatch.core.probe.provenance import Fingerprint, ProvenanceReader, fingerprint

log = logging.getLogger(__name__)


class FastPath:
    """Linux: sockets from netlink sock_diag, owners from the kept inode -> process map
    (`warm`: an OwnerMap restored from the owner cache already, with the cache's packages;
    `only`: rows for the host's sockets it accepts alone, e.g. those `list` has no kept row
    for — the owner map still follows every socket).

    Rows are built as the psutil path builds them (one per socket and owner pid, deduplicated by
    (proto, family, address, port, pid)); unchanged sockets reuse last scan's Listener objects.
    Each scan re-reads the fingerprint of the processes in the table (what exec changes), so a
    process that became another program is read again and its rows rebuilt."""

    def __init__(self, read_process: Callable[[int], ProcessInfo | None],
                 provenance: ProvenanceReader | None = None,
                 owner_cache: str | os.PathLike | None = None, namespaces: Any = None,
                 warm: tuple[Any, Any] | None = None,
                 only: Callable[[Any], bool] | None = None) -> None:
        from portwatch.core.probe.owners import OwnerMap
        from portwatch.core.probe.sockdiag import SockDiag

        self._diag = SockDiag()
        self.namespaces = namespaces  # a probe.netns.NamespaceScanner, or None: host only
        self._inner: tuple = ()
        if namespaces is not None:  # the owner map lists /proc already: the pids of its scan
            namespaces.finder.pids = lambda: self.owners.live
        self.owners = OwnerMap()
        self._owner_cache = owner_cache
        self._restored = False
        self._read_process = read_process
        self._provenance = provenance if provenance is not None else ProvenanceReader()
        self._only = only  # rows only for the sockets it accepts (owners still of all)
        if warm is not None:  # an owner map restored (and resolved) already, and its packages
            self.owners, packages = warm
            self._restored = True
            self._provenance.packages.restore(packages)
        # pid -> (start, fingerprint, info) of the processes in the last table
        self._details: dict[int, tuple[int | None, Fingerprint, ProcessInfo]] = {}
        self._rows: dict[tuple, Listener] = {}
        self._users = UserNames()
        self._sockets: tuple = ()
        self._inodes: set[int] = set()
        self._state: tuple = ()  # (sockets, owners version, hidden reason) of the last scan
        self._result: tuple[Listener, ...] = ()
        self.worked = False

    def close(self) -> None:
        self._diag.close()
        if self.namespaces is not None:
            self.namespaces.close()
        if self._owner_cache is not None and self.worked:
            from portwatch.core.probe.owner_cache import write_saved

            # The packages of the executables seen go along: `list` then reads no dpkg lists.
            saved = {**self.owners.saved(), "packages": self._provenance.packages.saved()}
            try:
                write_saved(self._owner_cache, saved)
            except OSError as exc:
                log.debug("could not save the owner map to %s: %s", self._owner_cache, exc)

    def scan(self) -> tuple[Listener, ...]:
        sockets = self._diag.listeners()
        if self._owner_cache is not None and not self._restored:
            from portwatch.core.probe.owner_cache import read_saved

            self._restored = True
            saved = read_saved(self._owner_cache)
            if saved is not None and not self.owners.restore(saved):
                log.debug("the saved owner map %s does not fit; starting cold",
                          self._owner_cache)
            elif saved is not None:
                self._provenance.packages.restore(saved.get("packages"))
        inner = self.namespaces.listeners() if self.namespaces is not None else ()
        if sockets is not self._sockets or inner is not self._inner:
            self._sockets, self._inner = sockets, inner
            self._inodes = {item.inode for item in sockets}
            self._inodes.update(item.inode for item, _ in inner)
        owners = self.owners.resolve(self._inodes, self._open_inodes)
        self.worked = True
        if self._only is not None:
            sockets = tuple(item for item in sockets if self._only(item))
        if self._forget_execed():
            self._state = ()  # a process became another program: its rows are built anew
        vanished = self.owners.vanished
        hidden_reason = current_hidden_reason()
        state = (sockets, inner, self.owners.version, hidden_reason, len(vanished))
        if state == self._state:  # same sockets, same owners: the same rows
            return self._result
        holders_of = self.owners.holders
        details: dict[int, tuple[int | None, Fingerprint, ProcessInfo]] = {}
        unknown = self.owners.holder_pids() - self._details.keys()
        if unknown:
            self._provenance.prefetch(unknown)  # the packages of new executables in one pass
        gone: set[int] = set()
        alone: dict[int, tuple[Holder, ...]] = {}  # pid -> its one-holder tuple, shared
        previous = self._rows
        exposure = classify  # remembered per address
        users = self._users
        rows: dict[tuple, Listener] = {}
        namespaces = self.namespaces
        for item, space in ((item, None) for item in sockets) if not inner else (
                *((item, None) for item in sockets), *inner):
            pid = owners.get(item.inode)
            netns = namespaces.label(space) if space is not None else None
            netns_path = space.path if space is not None else None
            key = (item.proto, item.family, item.address, item.port, pid, netns)
            if key in rows or (vanished and item.inode in vanished):
                continue
            reach = exposure(item.address) if space is None else namespaces.exposure(
                space, item.address)
            if pid is None:
                row = previous.get(key)
                if row is None or row.hidden_reason != hidden_reason or row.exposure != reach:
                    row = Listener(item.proto, item.family, item.address, item.port,
                                   reach, owner_hidden=True,
                                   hidden_reason=hidden_reason, socket_user=users[item.uid],
                                   inode=item.inode, netns=netns, netns_path=netns_path)
                rows[key] = row
                continue
            if pid in gone:
                continue
            info = self._process(pid, details)
            if info is None:
                gone.add(pid)
                log.debug("process %s exited during the scan; dropping its sockets", pid)
                continue
            held = holders_of(item.inode)
            if len(held) == 1:  # the common case, and cheap
                holders = alone.get(pid) or alone.setdefault(pid, (Holder(pid, info.name),))
            else:
                holders = self._holders(held, details, gone)
            row = previous.get(key)
            if row is None or row.process is not info or row.exposure != reach or (
                    row.holders is not holders and row.holders != holders):
                row = Listener(item.proto, item.family, item.address, item.port,
                               reach, info, holders=holders,
                               socket_user=users[item.uid], inode=item.inode, netns=netns,
                               netns_path=netns_path)
            rows[key] = row
        self._details = details
        self._rows = rows
        # A process that could not be read costs its rows for this scan only: when some
        # were dropped, the next scan builds the rows again even if nothing else changed.
        self._state = state if not gone else ()
        self._result = tuple(rows.values())
        return self._result

    def _holders(self, pids: tuple[int, ...], details: dict, gone: set[int]
                 ) -> tuple[Holder, ...]:
        """(pid, name) of each holder still there, the owner first."""
        found = []
        for pid in pids:
            info = None if pid in gone else self._process(pid, details)
            if info is None:
                gone.add(pid)
            else:
                found.append(Holder(pid, info.name))
        return tuple(found)

    def _forget_execed(self) -> bool:
        """Drop the details of processes whose executable or name changed (exec); True if any.
        Two small reads per process in the table: the steady-state cost of noticing exec."""
        execed = [pid for pid, (_, known, _) in self._details.items()
                  if fingerprint(pid) != known]
        for pid in execed:
            del self._details[pid]
        return bool(execed)

    def _open_inodes(self) -> set[int]:
        """The listener inodes open now (a second, cheap dump)."""
        inodes = {item.inode for item in self._diag.listeners()}
        if self.namespaces is not None:
            inodes |= self.namespaces.open_inodes()
        return inodes

    def _process(self, pid: int, details: dict) -> ProcessInfo | None:
        known = details.get(pid)
        if known is not None:
            return known[2]
        start = self.owners.start_time(pid)
        known = self._details.get(pid)
        if known is None or known[0] != start or start is None:
            seen = fingerprint(pid)  # before reading: an exec meanwhile shows next scan
            info = self._read_process(pid)
            if info is None:
                return None
            known = (start, seen, info)
        details[pid] = known
        return known[2]


class UserNames(dict[int, str]):
    """uid -> user name (the uid as text when it has none), remembered for the run."""

    def __missing__(self, uid: int) -> str:
        try:
            name = pwd.getpwuid(uid).pw_name
        except (KeyError, OverflowError):
            name = str(uid)
        self[uid] = name
        return name
