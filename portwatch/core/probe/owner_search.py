"""Finding the holders of sockets the owner map does not know yet: which processes' fds to read,
in which order, and remembering what each walk found.

`OwnerSearch` is a part of `owners.OwnerMap` (it uses the map's state and its bookkeeping):

* `_find` walks more processes only while some listener inode is still unknown (and, asked
  again, still open): new processes, then those whose number of open fds changed since we last
  read them (the size of /proc/<pid>/fd), then those that ran since (/proc/<pid>/schedstat: a
  process that did not run created nothing), processes that owned listeners before ahead of
  the others, each group from the highest pid down; it stops as soon as every unknown inode is
  found — except on the first search (nothing known, nothing restored), which reads every
  process, since a shared socket needs all its holders and the child that inherited it may be
  met before the parent that opened it;
* once a socket unknown at the start of a scan is found (in a new process or by the search),
  `_complete` reads the ancestors of its holders too: a child gains its fds at fork, so the
  child that inherited a new listener is new and met first, and without this would be its
  owner while the parent that opened it was missed. A process that is neither new nor an
  ancestor of a holder (one that got the socket over SCM_RIGHTS, or a sibling forked before
  the socket listened) is found by the next full search, not by this step: reading every
  process that ran since (schedstat) would find it but doubled the cost of a poll that sees a
  new listener (≈ 11 → 25 ms under the standard load), past its 1/10 of `ss -tulnp`;
* `_walk` / `_walk_all` read processes' fd tables (`procfd`, `fdwalk`) and `_record` keeps
  what they found: the holders, each process's fd count and run time, its identity.
"""

from __future__ import annotations

from collections.abc import Collection

from portwatch.core.probe.procfd import (
    UNREADABLE,
    ancestors,
    fd_count_changed,
    proc_identity,
    ran_since,
    read_fd_tables,
    read_stat,
)

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (see portwatch/lazy.py)
if TYPE_CHECKING:
    from portwatch.core.probe.owners import WalkStats


class OwnerSearch:
    """Searching processes for the holders of unknown sockets; mixed into OwnerMap."""

    _proc: str
    _holders: dict[int, dict[int, int]]
    _owner: dict[int, int]
    _identity: dict[int, tuple[int, int]]
    _start: dict[int, int]
    _ppid: dict[int, int]
    _former: set[int]
    _fd_count: dict[int, int]
    _runtime: dict[int, int]
    _still: dict[int, int]
    _orphans: set[int]
    _cold: bool
    stats: WalkStats

    def _find(self, unknown: set[int], wanted: Collection[int], live: set[int],
              walked: set[int]) -> bool:
        """Walk processes until every unknown inode has an owner; found ones leave `unknown`.

        True when every process was read (nothing stopped the walk early)."""
        candidates = live - walked
        if self._cold:
            # Nothing is known yet (the first search, not restored): every process is read,
            # even once each unknown inode has a holder, since a shared socket needs all of
            # them (the child that inherited it may be met before the parent that opened it).
            self._cold = False
            order = sorted(candidates, reverse=True)
            self.stats.searched += len(order)
            self._walk_all(order, wanted)
            unknown.difference_update(self._owner.keys())  # in place: the caller sees it
            return True
        proc = self._proc
        changed = fd_count_changed(proc, candidates, self._fd_count) if self._fd_count else set()
        others = candidates - changed
        ran = ran_since(proc, others, self._runtime) if self._runtime else others
        former = self._former
        groups = (changed, ran & former, ran - former, others - ran & former, others - ran - former)
        order = [pid for group in groups for pid in sorted(group, reverse=True)]
        for pid in order:
            if not unknown:
                return False  # _complete reads the other holders of what was found
            self.stats.searched += 1
            walked.add(pid)
            for inode in self._walk(pid, wanted):
                unknown.discard(inode)
        return True

    def _complete(self, fresh: set[int], wanted: Collection[int], live: set[int],
                  walked: set[int]) -> None:
        """Read the ancestors of the holders of the `fresh` inodes (found this scan, unknown
        before) that were not read this scan: a search stops at the first holder, which may be
        the child that inherited a new listener, met before the parent that opened it (new
        processes are read first, the highest pid first), and a parent may hold a socket from
        before it listened without having run since."""
        candidates = live - walked
        if not candidates:
            return
        holders = {pid for inode in fresh for pid in self._holders.get(inode, ())}
        order = ancestors(self._proc, holders, live) & candidates
        self.stats.completed += len(order)
        self._walk_all(sorted(order, reverse=True), wanted)
        walked |= order

    def _walk(self, pid: int, wanted: Collection[int]) -> list[int]:
        """Read every fd link of pid; record it as a holder of the wanted inodes it has."""
        ((_, runtime, single, count, found),) = read_fd_tables(self._proc, (pid,), wanted)
        return self._record(pid, runtime, single, count, found)

    def _walk_all(self, pids: list[int], wanted: Collection[int]) -> None:
        """`_walk` every one of `pids` (their fds read in one batch, by two processes when a
        second CPU can help: fdwalk.py)."""
        from portwatch.core.probe.fdwalk import read_all_fd_tables

        for pid, runtime, single, count, found in read_all_fd_tables(self._proc, pids, wanted):
            self._record(pid, runtime, single, count, found)

    def _record(self, pid: int, runtime: int | None, single: bool, count: int,
                found: list[tuple[int, int]]) -> list[int]:
        """Remember what a walk of pid read; the wanted inodes it holds."""
        # a process not known before: after this walk its remembered links are all this walk's
        first = single and pid not in self._identity
        stats = self.stats
        if count < 0:
            if count == UNREADABLE:
                stats.unreadable += 1
            return []
        stats.processes += 1
        stats.links += count
        self._fd_count[pid] = count
        if runtime is not None:
            self._runtime[pid] = runtime
        if not found or not self._remember_pid(pid):
            return []
        for inode, fd in found:
            self._holders.setdefault(inode, {})[pid] = fd
            self._orphans.discard(inode)
            self._set_owner(inode)
        if first and runtime is not None:
            self._still[pid] = runtime
        return [inode for inode, _ in found]

    def _remember_pid(self, pid: int) -> bool:
        if pid in self._identity:
            return True
        identity = proc_identity(self._proc, pid)
        stat = read_stat(self._proc, pid)
        if identity is None or stat is None:
            return False  # exited while we looked
        self._identity[pid] = identity
        self._start[pid], self._ppid[pid] = stat
        self._former.add(pid)
        return True

    def _read_start(self, pid: int) -> int | None:
        stat = read_stat(self._proc, pid)
        return stat[0] if stat is not None else None

