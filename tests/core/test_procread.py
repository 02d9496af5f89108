"""The fast path's own /proc reader gives the values psutil gives, on real processes: every
process of this machine, a cut 15-character name, a deleted executable, a zombie, a gone pid."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import psutil
import pytest

from portwatch.core.probe.errors import ProcessGone
from portwatch.core.probe.procread import ProcReader

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

DEADLINE = 30.0


def by_psutil(pid: int) -> tuple | None:
    """What the portable scanner path records (scanner._read_process), or None if gone."""
    try:
        proc = psutil.Process(pid)
        with proc.oneshot():
            try:
                exe = proc.exe() or None
            except psutil.AccessDenied:
                exe = None
            return (proc.name() or "?", exe, tuple(proc.cmdline()), proc.username(),
                    proc.create_time(), proc.ppid())
    except psutil.NoSuchProcess:
        return None


def by_reader(reader: ProcReader, pid: int) -> tuple | None:
    try:
        info = reader.details(pid, lambda *args: None, lambda ppid: None)
    except ProcessGone:
        return None
    return info.name, info.exe, info.cmdline, info.user, info.create_time, info.ppid


def agree(reader: ProcReader, pid: int) -> bool:
    """Both readers agree on pid; a process that changed between the reads (exec, exit) is
    read again, a few times."""
    return any(by_psutil(pid) == by_reader(reader, pid) for _ in range(5))


def test_every_process_reads_as_psutil_reads_it():
    reader = ProcReader()
    pids = psutil.pids()
    differ = [pid for pid in pids if not agree(reader, pid)]
    assert len(pids) > 20
    assert not differ, {pid: (by_psutil(pid), by_reader(reader, pid)) for pid in differ[:3]}


def start(argv: list[str]) -> subprocess.Popen:
    return subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def end(proc: subprocess.Popen) -> None:
    proc.kill()  # our own child, by its PID
    proc.wait(10)
    proc.stdin.close()


def wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def test_a_cut_name_and_a_deleted_executable_read_as_psutil_reads_them(tmp_path):
    long_name = tmp_path / "a-program-with-a-long-name"
    os.symlink(os.path.realpath(sys.executable), long_name)
    copy = tmp_path / "python-copy"
    shutil.copy2(os.path.realpath(sys.executable), copy)
    named, deleted = (start([str(long_name), "-c", "import sys; sys.stdin.read()"]),
                      start([str(copy), "-c", "import sys; sys.stdin.read()"]))
    try:
        reader = ProcReader()
        wait_for(lambda: psutil.Process(named.pid).name() == long_name.name, "the name is set")
        assert by_reader(reader, named.pid)[0] == long_name.name  # not its 15 characters
        assert agree(reader, named.pid)
        wait_for(lambda: os.readlink(f"/proc/{deleted.pid}/exe") == str(copy), "it runs")
        copy.unlink()
        assert os.readlink(f"/proc/{deleted.pid}/exe").endswith(" (deleted)")
        assert by_reader(reader, deleted.pid)[1] == str(copy)
        assert agree(reader, deleted.pid)
    finally:
        end(named)
        end(deleted)


def test_a_zombie_and_a_gone_process_are_gone():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        def state() -> str:
            with open(f"/proc/{child.pid}/stat", "rb") as handle:
                return handle.read().rsplit(b")", 1)[1].split()[0].decode()

        wait_for(lambda: state() == "Z", "the child exits and is not reaped yet")
        with pytest.raises(ProcessGone):
            ProcReader().details(child.pid, lambda *args: None, lambda ppid: None)
    finally:
        child.wait(10)
    with pytest.raises(ProcessGone):  # reaped: no /proc entry any more
        ProcReader().details(child.pid, lambda *args: None, lambda ppid: None)
    assert ProcReader().name(child.pid) is None
