"""Starting the owner map warm: what it saves for a later process, and restoring from that.

`OwnerRestore` is a part of `owners.OwnerMap` (it uses the map's state and its bookkeeping).
A map saved by one process (`saved()`, `owner_cache.write_saved`) lets the next start warm
(`restore`): `portwatch list` then re-checks what it remembers instead of reading every
process's fds: every remembered link once, except those of a process with one thread that has
not run since they were last found right (its schedstat run time is the same: a process closes
nothing without running; `_quiet_holders`); the processes started since are found by their
start times, read only for pids above the last one handed out when it was saved while the
kernel's counters show no wrap since; every process's run time when its fds were last read is
kept too (a search reads first the processes that ran since). What the file holds is plain
JSON (`owner_cache` checks its boot, privileges and form); no class or module is named in it.
"""

from __future__ import annotations

from collections.abc import Callable

from portwatch.core.probe.kernel import pid_counters
from portwatch.core.probe.owner_cache import (
    SAVED_FORMAT,
    boot_id,
    parse_saved,
    privileges,
    ticks_since_boot,
)
from portwatch.core.probe.procfd import proc_identity, read_runtime, read_stat, single_threaded


class OwnerRestore:
    """Saving the owner map and starting from a saved one; mixed into OwnerMap."""

    _proc: str
    _clock: Callable[[], float]
    _holders: dict[int, dict[int, int]]
    _identity: dict[int, tuple[int, int]]
    _start: dict[int, int]
    _ppid: dict[int, int]
    _former: set[int]
    _runtime: dict[int, int]
    _still: dict[int, int]
    _orphans: set[int]
    _orphans_checked: float
    _live: set[int] | None
    _new_since: int | None
    _pids_then: tuple[int, int] | None
    _verify_all: bool
    _cold: bool
    version: int

    def saved(self) -> dict:
        """What a later process may start from (see `restore`): plain JSON values."""
        return {
            "format": SAVED_FORMAT,
            "boot": boot_id(),
            "privileges": privileges(),
            "pids": pid_counters(),  # before `taken`: a process started between is new
            "taken": ticks_since_boot(),
            "holders": [[inode, pid, fd] for inode, holders in self._holders.items()
                        for pid, fd in holders.items()],
            "starts": {str(pid): start for pid, start in self._start.items()},
            "orphans": sorted(self._orphans),
            "orphans_checked": self._orphans_checked if self._orphans else None,
            "still": {str(pid): runtime for pid, runtime in self._still.items()},
            "runtimes": {str(pid): runtime for pid, runtime in self._runtime.items()},
        }

    def restore(self, saved: object) -> bool:
        """Start from a map saved by an earlier process (before the first `resolve`).

        Nothing in it is believed unchecked: a holder whose process has another start time now
        is dropped, and every remembered link is re-read at the first scan; processes started
        since it was saved are walked as new ones. False (and nothing restored) when it does
        not fit this boot or is malformed."""
        checked_map = parse_saved(saved) if self._live is None else None
        if checked_map is None:
            return False
        taken, starts, holders = checked_map.taken, checked_map.starts, checked_map.holders
        orphans, checked = checked_map.orphans, checked_map.checked
        alive = {pid for pid, start in starts.items() if self._read_start(pid) == start}
        for inode, pairs in holders.items():
            kept = {pid: fd for pid, fd in pairs.items() if pid in alive}
            if kept:
                self._holders[inode] = kept
        self.version += 1
        for pid in alive:
            identity = proc_identity(self._proc, pid)
            stat = read_stat(self._proc, pid)
            if identity is not None and stat is not None:
                self._identity[pid] = identity
                self._start[pid], self._ppid[pid] = starts[pid], stat[1]
                self._former.add(pid)
        for inode in list(self._holders):
            self._set_owner(inode)
        self._still = {pid: runtime for pid, runtime in checked_map.still.items()
                       if pid in alive}
        # run times when each process's fds were read: one that has not run since gained no fd
        # (a pid used again since is a new process, read whole; see _complete)
        self._runtime = dict(checked_map.runtimes)
        self._orphans = orphans
        self._orphans_checked = min(checked, self._clock())
        self._new_since = taken
        self._pids_then = checked_map.pids
        self._verify_all = True
        self._cold = False
        return True

    def _quiet_holders(self) -> set[int]:
        """Holders whose links need no re-reading now (see `_verify_links`); every other holder
        with one thread is remembered with its run time, read before its links are."""
        quiet = set()
        for pid in self.holder_pids():
            runtime = read_runtime(self._proc, pid) if single_threaded(self._proc, pid) else None
            if runtime is None:
                self._still.pop(pid, None)
            elif self._still.get(pid) == runtime:
                quiet.add(pid)
            else:
                self._still[pid] = runtime  # true once its links are re-read below
        return quiet
