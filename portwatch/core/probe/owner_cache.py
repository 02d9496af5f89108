"""The owner map's file between processes: which user may have written it, and this boot.

`write_saved` keeps `OwnerMap.saved()` in the data directory (mode 0600, written atomically),
`read_saved` reads it back only when this user wrote it and nobody else could have, and
`parse_saved` checks that it belongs to this boot and is well formed before `OwnerMap.restore`
believes any of it (and then it re-checks every process and link anyway).
"""

from __future__ import annotations

import json
import os
import time

from portwatch.core.files.atomic import write_atomic

_SAVED_MAX_BYTES = 16 << 20
SAVED_FORMAT = 2


def boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as handle:
            return handle.read().strip()
    except OSError:
        return ""


def ticks_since_boot() -> int:
    """Now, in the unit of /proc/<pid>/stat's start time (clock ticks after boot)."""
    return int(time.clock_gettime(time.CLOCK_BOOTTIME) * os.sysconf("SC_CLK_TCK"))


def read_saved(path: str | os.PathLike) -> object | None:
    """A saved map written by this user (never one others could have written), or None."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if st.st_uid != os.geteuid() or st.st_mode & 0o022 or st.st_size > _SAVED_MAX_BYTES:
            return None
        with os.fdopen(fd, "rb", closefd=False) as handle:
            return json.loads(handle.read())
    except (OSError, ValueError):
        return None
    finally:
        os.close(fd)


def write_saved(path: str | os.PathLike, saved: dict) -> None:
    """Write atomically, readable by this user only, into a directory that exists already
    (this never creates one). Raises OSError."""
    # A cache rebuilt by the next walk if lost: not worth an fsync at every `list`.
    write_atomic(path, json.dumps(saved, separators=(",", ":")), mode=0o600, durable=False)


class SavedMap:
    """A saved map, checked: what `OwnerMap.restore` starts from."""

    __slots__ = ("checked", "holders", "orphans", "starts", "still", "taken")

    def __init__(self, taken: int, starts: dict[int, int], holders: dict[int, dict[int, int]],
                 orphans: set[int], checked: float, still: dict[int, int]) -> None:
        self.taken, self.starts, self.holders = taken, starts, holders
        self.orphans, self.checked, self.still = orphans, checked, still


def parse_saved(saved: object) -> SavedMap | None:
    """The saved map when it fits this boot and is well formed; None otherwise."""
    if not isinstance(saved, dict):
        return None
    try:
        if saved.get("format") != SAVED_FORMAT or saved.get("boot") != boot_id():
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
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    return SavedMap(taken, starts, holders, orphans, checked, still)
