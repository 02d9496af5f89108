"""The walk of every process's fds (the owner map's first search), split over two processes.

Reading /proc/<pid>/fd of ~400 processes (~34,000 links) is kernel work the caller waits for:
≈ 130 ms in one process on the 2-core test VM, which is less than `ss -p` spends on the same
walk, so it cannot get much cheaper by doing less per link. With a second CPU free, a forked
child reads every other process while this one reads the rest: ≈ 75 ms (measured with the
standard load; threads gain nothing, the GIL serialises the per-link Python work, and a fresh
helper interpreter costs more than it saves). Under load the second CPU is busy and the split
gains little, but loses nothing measurable either.

fork() is used only when it is safe and can help: this process has one thread (a fork taken
while another thread holds a lock can deadlock the child), may run on two CPUs, and there are
at least MIN_SPLIT processes. The child only reads /proc, writes its answer to a pipe (marshal)
and leaves with os._exit (no atexit handler, no buffered output of ours); if anything about it
fails, this process reads the child's half itself. The answer is the same either way:
procfd.read_fd_tables' tuples, in the order of `pids`.
"""

from __future__ import annotations

import marshal
import os
from collections.abc import Collection, Sequence

from portwatch.core.probe.procfd import read_fd_tables

MIN_SPLIT = 64  # fewer processes: a fork costs more than half their walk


def read_all_fd_tables(proc: str, pids: Sequence[int], wanted: Collection[int],
                       split: bool | None = None) -> list[tuple]:
    """procfd.read_fd_tables(proc, pids, wanted), read by two processes when `split` (None:
    when `may_split(len(pids))`)."""
    if not (may_split(len(pids)) if split is None else split and single_threaded()):
        return read_fd_tables(proc, pids, wanted)
    ours, theirs = list(pids[0::2]), list(pids[1::2])
    try:
        read_end, write_end = os.pipe()
    except OSError:
        return read_fd_tables(proc, pids, wanted)
    try:
        child = os.fork()
    except OSError:
        os.close(read_end)
        os.close(write_end)
        return read_fd_tables(proc, pids, wanted)
    if child == 0:  # pragma: no cover - the child leaves through os._exit
        _child(proc, theirs, wanted, read_end, write_end)
    os.close(write_end)
    tables = read_fd_tables(proc, ours, wanted)
    received = _received(read_end, child, theirs)
    if received is None:  # the child failed: its half is read here
        received = read_fd_tables(proc, theirs, wanted)
    by_pid = {table[0]: table for table in (*tables, *received)}
    return [by_pid[pid] for pid in pids if pid in by_pid]


def may_split(count: int) -> bool:
    """Whether a walk of `count` processes is split: enough of them, two CPUs, one thread."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return False
    return count >= MIN_SPLIT and cpus >= 2 and single_threaded()


def single_threaded() -> bool:
    """This process has one thread (Qt's and C libraries' threads count too)."""
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return False


def _child(proc: str, pids: list[int], wanted: Collection[int], read_end: int,
           write_end: int) -> None:  # pragma: no cover - runs in the forked child
    status = 1
    try:
        os.close(read_end)
        data = memoryview(marshal.dumps(read_fd_tables(proc, pids, wanted)))
        while data:
            data = data[os.write(write_end, data):]
        status = 0
    finally:
        os._exit(status)


def _received(read_end: int, child: int, pids: list[int]) -> list[tuple] | None:
    """The child's tables (None if it failed or they are not the answer for `pids`)."""
    chunks = []
    try:
        while chunk := os.read(read_end, 1 << 16):
            chunks.append(chunk)
    except OSError:
        chunks = []
    finally:
        os.close(read_end)
    try:
        _, status = os.waitpid(child, 0)
    except ChildProcessError:
        status = -1
    if status != 0:
        return None
    try:
        tables = marshal.loads(b"".join(chunks))  # noqa: S302 - our own child wrote it
        if [table[0] for table in tables] != pids:
            return None
    except (EOFError, ValueError, TypeError, IndexError, KeyError):
        return None
    return tables
