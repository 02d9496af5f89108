"""The owner map's file between processes: which user may have written it, and this boot.

`write_saved` keeps `OwnerMap.saved()` in the data directory (mode 0600, written atomically),
`read_saved` reads it back only when this user wrote it and nobody else could have (both are
core/files/cache.py's), and `parse_saved` checks that it belongs to this boot, was made with
this process's privileges (a map root saved with every capability would otherwise show owners
to a run that cannot read them) and is well formed before `OwnerMap.restore` believes any of
it (and then it re-checks every process and link anyway).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from portwatch.core.files.cache import read_cache as read_saved
from portwatch.core.files.cache import write_cache as write_saved
from portwatch.core.probe.kernel import boot_id, privileges

__all__ = ["SAVED_FORMAT", "SavedMap", "boot_id", "default_owner_cache", "parse_saved",
           "privileges", "read_saved", "ticks_since_boot", "write_saved"]

SAVED_FORMAT = 3


def ticks_since_boot() -> int:
    """Now, in the unit of /proc/<pid>/stat's start time (clock ticks after boot)."""
    return int(time.clock_gettime(time.CLOCK_BOOTTIME) * os.sysconf("SC_CLK_TCK"))


def default_owner_cache() -> Path:
    """Where one-shot scans keep the owner map between runs: the data directory, and only
    once it exists (the window or `watch` made it), so `list` alone creates nothing."""
    from portwatch.core.files.paths import data_dir

    uid = os.geteuid() if hasattr(os, "geteuid") else 0
    return data_dir() / f"owner-map-{uid}.json"


class SavedMap:
    """A saved map, checked: what `OwnerMap.restore` starts from."""

    __slots__ = ("checked", "holders", "orphans", "pids", "runtimes", "starts", "still", "taken")

    def __init__(self, taken: int, starts: dict[int, int], holders: dict[int, dict[int, int]],
                 orphans: set[int], checked: float, still: dict[int, int],
                 pids: tuple[int, int] | None = None,
                 runtimes: dict[int, int] | None = None) -> None:
        self.taken, self.starts, self.holders = taken, starts, holders
        self.orphans, self.checked, self.still = orphans, checked, still
        self.pids = pids  # kernel.pid_counters() just before `taken` (older maps: None)
        # pid -> run time when its fds were last read (older maps: none, so all may have run)
        self.runtimes = runtimes or {}


def parse_saved(saved: object) -> SavedMap | None:
    """The saved map when it fits this boot and these privileges and is well formed; else None."""
    if not isinstance(saved, dict):
        return None
    try:
        if saved.get("format") != SAVED_FORMAT or saved.get("boot") != boot_id():
            return None
        if saved.get("privileges") != privileges():
            return None
        taken = int(saved["taken"])
        starts = {int(pid): int(start) for pid, start in saved["starts"].items()}
        holders: dict[int, dict[int, int]] = {}
        for inode, pid, fd in saved["holders"]:
            holders.setdefault(int(inode), {})[int(pid)] = int(fd)
        orphans = {int(inode) for inode in saved["orphans"]}
        checked = saved.get("orphans_checked")
        checked = float(checked) if checked is not None else -float("inf")
        # one-thread holders' run times when their links were last right (older maps: none)
        still = {int(pid): int(runtime) for pid, runtime in saved.get("still", {}).items()}
        runtimes = {int(pid): int(runtime)
                    for pid, runtime in saved.get("runtimes", {}).items()}
        counters = saved.get("pids")
        pids = (int(counters[0]), int(counters[1])) if counters is not None else None
    except (KeyError, TypeError, ValueError, AttributeError, IndexError):
        return None
    return SavedMap(taken, starts, holders, orphans, checked, still, pids, runtimes)
