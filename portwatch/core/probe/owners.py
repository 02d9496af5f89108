"""Which process owns each socket inode: a map kept between scans, reading /proc only for news.

Finding a socket's owner means reading the links in /proc/<pid>/fd, and doing that for every
process (what `ss -p`, `lsof` and psutil do) costs hundreds of milliseconds on a busy machine.
`OwnerMap` remembers inode -> holders between scans and per scan (`resolve`) only:

* lists /proc (new pids) and checks that each remembered owner is still the same process (the
  identity of its /proc directory; its start time, field 22 of /proc/<pid>/stat, when that
  changed);
* walks every *new* process's fds (a forked child may inherit a listener, and then it is the
  owner psutil reports);
* walks more processes only while some listener inode is still unknown, and reads the
  ancestors of the holders of one found: `owner_search` (which processes, in which order,
  and why the ancestors);
* re-reads a few remembered fd links per scan (all of them for sockets known to be shared), so
  an owner that closed its copy of a shared socket is noticed;
* remembers inodes that no visible process holds (kernel sockets, other namespaces, processes it
  may not read) and looks for them again only every `orphan_recheck` seconds.

A map saved by one process lets the next start warm: `owner_restore` (`saved`, `restore`).
The /proc reads themselves live in `procfd`.

A socket held by several processes (a server and the workers it forked, a listening fd leaked
into a child, a socket passed over SCM_RIGHTS) keeps every holder (`holders(inode)`), and its
owner is the one a person means: the holder whose parent is not itself a holder (the nginx
master, the server that leaked the fd to `sleep`), the oldest of them when there are several.
psutil names only one holder (the highest pid): the portable path knows no more than that.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Collection, Mapping

from portwatch.core.probe.kernel import pids_since
from portwatch.core.probe.owner_restore import OwnerRestore
from portwatch.core.probe.owner_search import OwnerSearch
from portwatch.core.probe.procfd import SOCKET_PREFIX, proc_identity


class WalkStats:
    """What the last `resolve()` read, for benchmarks and tests (a plain class: `list` loads
    this module on its quickest path, where dataclasses' set-up would be most of the import)."""

    __slots__ = ("completed", "links", "new", "processes", "searched", "unreadable", "vanished",
                 "verified")

    def __init__(self) -> None:
        self.processes = 0  # fd directories listed
        self.new = 0  # ...of them because the process is new since the last scan
        self.searched = 0  # ...of them looking for the owner of an unknown inode
        self.completed = 0  # ...of them looking for the other holders of one found (_complete)
        self.links = 0  # fd links read (walks and verification)
        self.unreadable = 0  # fd directories we were not allowed to list
        self.verified = 0  # remembered fd links re-read
        self.vanished = 0  # unknown sockets gone by the time we looked for their owner

    def __repr__(self) -> str:
        return "WalkStats(" + ", ".join(f"{name}={getattr(self, name)}"
                                        for name in self.__slots__) + ")"


class OwnerMap(OwnerSearch, OwnerRestore):
    """inode -> owning pid (and every holder) for listening sockets, kept up to date cheaply
    between scans (the search of holders: `OwnerSearch`; `saved()` and `restore()`:
    `OwnerRestore`)."""

    def __init__(self, proc: str = "/proc", orphan_recheck: float = 120.0,
                 verify_per_scan: int = 64, clock: Callable[[], float] = time.monotonic) -> None:
        self._proc = proc
        self._orphan_recheck = orphan_recheck
        self._verify_per_scan = verify_per_scan
        self._clock = clock
        self._holders: dict[int, dict[int, int]] = {}  # inode -> {pid: fd}
        self._owner: dict[int, int] = {}  # inode -> the holder a person means (see _choose)
        self._held: dict[int, tuple[int, ...]] = {}  # inode -> holders, the owner first
        self._identity: dict[int, tuple[int, int]] = {}  # pid -> (st_ino, st_ctime_ns) of /proc/pid
        self._start: dict[int, int] = {}  # pid -> start time in clock ticks since boot
        self._ppid: dict[int, int] = {}  # pid -> its parent's pid, read with the start time
        self._former: set[int] = set()  # pids that held listeners (walked early)
        self._fd_count: dict[int, int] = {}  # pid -> open fds when we last read its fd dir
        self._runtime: dict[int, int] = {}  # pid -> its schedstat run time (ns) then
        # pid -> its run time when every remembered link of it was last found right, for a
        # process with one thread: while it has not run since, it closed nothing (see restore)
        self._still: dict[int, int] = {}
        self._shared: set[int] = set()  # inodes with more than one known holder
        self._orphans: set[int] = set()  # inodes no readable process held when we looked
        self._orphans_checked = -float("inf")  # when we last read every process for them
        self._live: set[int] | None = None  # the pids of the previous scan
        self._rotation = 0
        self.stats = WalkStats()
        self.version = 0  # changes whenever some inode's owner changes
        self.vanished: set[int] = set()
        self._new_since: int | None = None  # restored: processes started after this are new
        self._pids_then: tuple[int, int] | None = None  # restored: kernel.pid_counters() then
        self._verify_all = False  # restored: re-read every remembered link once
        self._cold = True  # neither searched nor restored yet: the first search reads all

    # -- public -------------------------------------------------------------------------

    def resolve(self, inodes: Collection[int],
                still_open: Callable[[], Collection[int]] | None = None) -> Mapping[int, int]:
        """Owner pid of each inode that a visible process holds (others are absent).

        `still_open()`, when given, lists the socket inodes open now: before searching old
        processes for an unknown socket, it tells whether that socket still exists (a listener
        that lived a few milliseconds would otherwise cost a walk of every process). Inodes
        found closed are in `vanished` afterwards, and so are those that closed while their
        owner was searched for (asked again when some remain unknown after the search). The
        returned mapping is owned by this object and valid until the next call."""
        self.stats = WalkStats()
        self.vanished: set[int] = set()
        wanted = inodes if type(inodes) is set else set(inodes)
        live = self._list_pids()
        previous, self._live = self._live, live
        self._forget(wanted, live)
        self._check_identities()
        self._verify_links()
        before = self._owner.keys() & wanted  # what was known when this scan began
        walked: set[int] = set()
        whole = False  # whether every process was read this scan
        if previous is not None:
            new = live - previous
        elif self._new_since is not None:  # restored from a saved map: new = started since
            # only pids above the last one handed out then can be new (unless pids wrapped
            # since): their start times say, not the ~400 of every process
            after = pids_since(self._pids_then) or 0
            new = {pid for pid in live
                   if pid > after and (self._read_start(pid) or 0) >= self._new_since}
            previous, self._new_since = new, None
        else:
            new = set()  # the first scan searches everything anyway
        for pid in sorted(new, reverse=True):  # a new process may hold a known listener
            self._walk(pid, wanted)
            walked.add(pid)
            self.stats.new += 1
        now = self._clock()
        unknown = wanted - self._owner.keys()
        if now - self._orphans_checked < self._orphan_recheck:
            unknown -= self._orphans
        if unknown and still_open is not None and previous is not None:
            now_open = still_open()
            self.vanished = {inode for inode in unknown if inode not in now_open}
            unknown -= self.vanished
            self.stats.vanished = len(self.vanished)
        if unknown:
            if self._find(unknown, wanted, live, walked):
                self._orphans_checked = now  # every process was read: orphans re-checked
                whole = True
            if unknown and still_open is not None:
                # A socket closed while we searched had an owner a moment ago: it is gone,
                # not ownerless (reporting it as a hidden owner would be a small lie).
                now_open = still_open()
                closed = {inode for inode in unknown if inode not in now_open}
                if closed:
                    self.vanished = self.vanished | closed
                    self.stats.vanished += len(closed)
                    unknown -= closed
            self._orphans |= unknown
        if not whole:
            fresh = {inode for inode in wanted if inode in self._owner and inode not in before}
            if fresh:
                self._complete(fresh, wanted, live, walked)
        return self._owner

    @property
    def live(self) -> set[int] | None:
        """The pids the last `resolve()` listed in /proc (None before the first)."""
        return self._live

    def holder_pids(self) -> set[int]:
        """Every pid that holds some known socket."""
        return {pid for held in self._held.values() for pid in held}

    def holders(self, inode: int) -> tuple[int, ...]:
        """Every pid known to hold the socket, the owner first, then by pid; () if none."""
        return self._held.get(inode, ())

    def start_time(self, pid: int) -> int | None:
        """Start time (clock ticks after boot) of an owner pid as last checked."""
        return self._start.get(pid)

    # -- one scan's steps -----------------------------------------------------------------

    def _list_pids(self) -> set[int]:
        return {int(name) for name in os.listdir(self._proc) if name.isdigit()}

    def _forget(self, wanted: Collection[int], live: set[int]) -> None:
        """Drop sockets that are gone and holders that exited."""
        for inode in self._holders.keys() - wanted:
            self._drop_inode(inode)
        self._orphans &= wanted
        for pid in self._identity.keys() - live:
            self._drop_pid(pid)
        self._former &= live
        for pid in self._fd_count.keys() - live:
            del self._fd_count[pid]
        for pid in self._runtime.keys() - live:
            del self._runtime[pid]
        for pid in self._still.keys() - live:
            del self._still[pid]

    def _check_identities(self) -> None:
        """An owner pid whose /proc entry changed may be a new process with a reused pid."""
        for pid, identity in list(self._identity.items()):
            now = proc_identity(self._proc, pid)
            if now == identity:
                continue
            start = self._read_start(pid) if now is not None else None
            if start is not None and start == self._start.get(pid):
                self._identity[pid] = now  # same process, its /proc inode was just recycled
            else:
                self._drop_pid(pid)

    def _verify_links(self) -> None:
        """Re-read the links of shared sockets and of a rotating slice of the others; after a
        restore all of them, except those of a one-thread process that has not run since they
        were last found right (it cannot have closed an fd without running)."""
        inodes = list(self._holders)
        checks = set(self._shared)
        quiet: set[int] = set()
        if self._verify_all:
            checks.update(inodes)
            self._verify_all = False
            quiet = self._quiet_holders()
        elif inodes and self._verify_per_scan:
            start = self._rotation % len(inodes)
            checks.update(inodes[start:start + self._verify_per_scan])
            self._rotation = start + self._verify_per_scan
        readlink = os.readlink
        proc = self._proc
        verified = 0
        for inode in checks:
            holders = self._holders.get(inode)
            if not holders:
                continue
            expected = f"{SOCKET_PREFIX}{inode}]"
            gone = False
            for pid, fd in list(holders.items()):
                if pid in quiet:
                    continue
                verified += 1
                try:
                    ok = readlink(f"{proc}/{pid}/fd/{fd}") == expected
                except OSError:
                    ok = False
                if not ok:
                    del holders[pid]
                    gone = True
            if gone:
                self._set_owner(inode)
        self.stats.verified += verified

    # -- bookkeeping ----------------------------------------------------------------------

    def _set_owner(self, inode: int) -> None:
        holders = self._holders.get(inode)
        if holders:
            if len(holders) == 1:
                (owner,) = holders
                held: tuple[int, ...] = (owner,)
                self._shared.discard(inode)
            else:
                owner = self._choose(holders)
                held = (owner, *sorted(pid for pid in holders if pid != owner))
                self._shared.add(inode)
            self._owner[inode] = owner
            if self._held.get(inode) != held:
                self._held[inode] = held
                self.version += 1
        else:
            self._drop_inode(inode)

    def _choose(self, holders: Collection[int]) -> int:
        """The holder a person means: one whose parent is not a holder too (the master, not
        its workers; the server, not the child it leaked the fd to), the oldest of those."""
        ppid = self._ppid
        roots = [pid for pid in holders if ppid.get(pid) not in holders] or list(holders)
        start = self._start
        return min(roots, key=lambda pid: (start.get(pid, 1 << 62), pid))

    def _drop_inode(self, inode: int) -> None:
        self._holders.pop(inode, None)
        self._held.pop(inode, None)
        if self._owner.pop(inode, None) is not None:
            self.version += 1
        self._shared.discard(inode)

    def _drop_pid(self, pid: int) -> None:
        self._identity.pop(pid, None)
        self._start.pop(pid, None)
        self._ppid.pop(pid, None)
        self._former.discard(pid)
        self._still.pop(pid, None)
        for inode in [i for i, holders in self._holders.items() if pid in holders]:
            del self._holders[inode][pid]
            self._set_owner(inode)
