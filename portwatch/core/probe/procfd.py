"""The /proc reads of the owner map: a process's socket fds, start time, parent, run time.

Each function reads one small thing about one pid under a /proc root (tests pass their own) and
says None (or raises OSError, for the fd walk) when the process is gone or may not be read.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable

SOCKET_PREFIX = "socket:["
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


def socket_fds(proc: str, pid: int, wanted: Collection[int]) -> tuple[int, list[tuple[int, int]]]:
    """(number of open fds, [(inode, fd) of each wanted socket it holds]). Raises
    PermissionError when the fds may not be listed, another OSError when the process is gone."""
    # links read relative to the open fd directory: ~10% less kernel work per link
    fd_dir = os.open(f"{proc}/{pid}/fd", _DIR_FLAGS)
    found: list[tuple[int, int]] = []
    try:
        names = os.listdir(fd_dir)
        readlink = os.readlink
        for name in names:
            try:
                target = readlink(name, dir_fd=fd_dir)
            except OSError:
                continue
            if target.startswith(SOCKET_PREFIX):
                inode = int(target[8:-1])
                if inode in wanted:
                    found.append((inode, int(name)))
    finally:
        os.close(fd_dir)
    return len(names), found


UNREADABLE, GONE = -1, -2  # an fd count that says why there is none


def read_fd_tables(proc: str, pids: Iterable[int], wanted: Collection[int]
                   ) -> list[tuple[int, int | None, bool, int, list[tuple[int, int]]]]:
    """What a walk of every process reads, for each of `pids` in order: (pid, its schedstat
    run time read before its fds, whether it has one thread, its number of open fds or
    UNREADABLE or GONE, [(inode, fd) of each wanted socket it holds]). Plain tuples: this
    module loads on `list`'s quickest path."""
    tables = []
    for pid in pids:
        runtime = read_runtime(proc, pid)  # before the fds: a later run shows as a change
        single = single_threaded(proc, pid)
        try:
            count, found = socket_fds(proc, pid, wanted)
        except PermissionError:
            count, found = UNREADABLE, []
        except OSError:  # exited (ENOENT, ESRCH) or not a process directory
            count, found = GONE, []
        tables.append((pid, runtime, single, count, found))
    return tables


def read_runtime(proc: str, pid: int) -> int | None:
    """The main thread's run time in ns (/proc/<pid>/schedstat)."""
    try:
        with open(f"{proc}/{pid}/schedstat", "rb") as handle:
            return int(handle.read().split(None, 1)[0])
    except (OSError, ValueError, IndexError):
        return None


def single_threaded(proc: str, pid: int) -> bool:
    """Whether pid has one thread (/proc/<pid>/task holds one entry: its link count is 3)."""
    try:
        return os.stat(f"{proc}/{pid}/task").st_nlink == 3
    except OSError:
        return False


def proc_identity(proc: str, pid: int) -> tuple[int, int] | None:
    """(inode, ctime) of /proc/<pid>: changes when the pid is another process (or recycled)."""
    try:
        st = os.stat(f"{proc}/{pid}")
    except OSError:
        return None
    return st.st_ino, st.st_ctime_ns


def read_stat(proc: str, pid: int) -> tuple[int, int] | None:
    """(start time in clock ticks after boot, parent pid) from /proc/<pid>/stat."""
    try:
        with open(f"{proc}/{pid}/stat", "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    try:  # the name (field 2) may hold spaces and parentheses: split after the last ')'
        fields = data[data.rindex(b")") + 2:].split()
        return int(fields[19]), int(fields[1])
    except (ValueError, IndexError):
        return None


def fd_count_changed(proc: str, pids: set[int], counts: dict[int, int]) -> set[int]:
    """Processes whose number of open fds is not `counts`' (what it was when we last read
    them, or none): one that opened a socket since is among them. The count is the size of
    /proc/<pid>/fd (Linux 6.2 and later; 0 before, which tells nothing): when every process
    differs, it tells nothing either and the answer is empty."""
    changed: set[int] = set()
    stat = os.stat
    for pid in pids:
        try:
            size = stat(f"{proc}/{pid}/fd").st_size
        except OSError:
            continue  # exited, or not ours to look at: searched with the rest
        if counts.get(pid) != size:
            changed.add(pid)
    return changed if len(changed) < len(pids) else set()


def ran_since(proc: str, pids: set[int], runtimes: dict[int, int]) -> set[int]:
    """Processes that ran since `runtimes` (their run times when we last read their fds; or
    that we never read): a socket is created by running. Judged by /proc/<pid>/schedstat, which
    counts the main thread only: a process whose other threads alone ran is searched last."""
    ran: set[int] = set()
    for pid in pids:
        now = read_runtime(proc, pid)
        if now is None or runtimes.get(pid) != now:
            ran.add(pid)
    return ran


def ancestors(proc: str, pids: Iterable[int], live: Collection[int]) -> set[int]:
    """Every live ancestor of `pids` (their parents, theirs, ... up to pid 1), read now."""
    found: set[int] = set()
    for pid in pids:
        stat = read_stat(proc, pid)
        parent = stat[1] if stat is not None else 0
        while parent > 0 and parent not in found and parent in live:
            found.add(parent)
            stat = read_stat(proc, parent)
            parent = stat[1] if stat is not None else 0
    return found
