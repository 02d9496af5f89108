"""A full disk, for real: `portwatch watch` records into a data folder on a small tmpfs that
the test mounts and fills. Recording stopping and resuming are each said once (not at every
poll), the events printed meanwhile reach the file when there is room again, and what never
reached it is counted when watch ends: nothing is dropped without a word."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest
from test_watch_cli import TIMEOUT
from test_watch_window_policy import wait_until

from portwatch.core.files import paths
from portwatch.core.store.history import OPENED, PRESENT, HistoryError, HistoryReader


@pytest.fixture
def small_disk(monkeypatch):
    """A 2 MiB tmpfs as the data folder's file system; unmounted afterwards."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root and mount(8)")
    where = Path(tempfile.mkdtemp(prefix="pwtest-tmpfs-"))
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700",
                              "pwtest-tmpfs", str(where)], capture_output=True, text=True)
    if mounted.returncode != 0:
        where.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        monkeypatch.setenv("PORTWATCH_DATA_DIR", str(where / "data"))  # watch inherits it
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)
        with contextlib.suppress(OSError):
            where.rmdir()


def fill(folder: Path) -> Path:
    """Write a file until the file system has no room left; returns it."""
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as handle:
        chunk = b"\0" * 4096
        try:
            while True:
                handle.write(chunk)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def recorded_changes() -> int:
    """Events of watch's runs that are not part of a snapshot."""
    with HistoryReader(paths.history_file()) as reader:
        return sum(1 for e in reader.events() if e.event != PRESENT)


def runs() -> int:
    """Runs recorded so far (0 while the file is being made: no tables, or not all yet)."""
    try:
        with HistoryReader(paths.history_file()) as reader:
            return len(reader.runs())
    except (FileNotFoundError, HistoryError):
        return 0


def same_socket(proto: str, address: str, port: int, pid: int | None, child) -> bool:
    """Whether a listener (from watch's JSON or the history) is this test's child's socket:
    its protocol, address, port and PID. Another program (a standard load of thousands of
    listeners on this machine) can hold the same port number on another address or protocol,
    or have held it on this address before the child bound it."""
    return (proto, address, port, pid) == (child.proto, child.host, child.port, child.pid)


def recorded(child) -> list[str]:
    """The recorded events of the child's own socket."""
    with HistoryReader(paths.history_file()) as reader:
        return [e.event for e in reader.events()
                if same_socket(e.listener.proto.value, e.listener.address, e.listener.port,
                               e.listener.pid, child)]


class Lines:
    """Every line of a stream, kept (a reader thread appends; the test reads)."""

    def __init__(self, stream) -> None:
        self.seen: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:
        for line in stream:
            self.seen.append(line)

    def wait_for(self, predicate) -> str:
        found: list[str] = []
        wait_until(lambda: bool(found.extend(x for x in list(self.seen) if predicate(x))
                                or found))
        return found[0]

    def join(self) -> None:
        self._thread.join(TIMEOUT)


def opened(child):
    def match(line: str) -> bool:
        record = json.loads(line)
        return record["event"] == "opened" and same_socket(
            record["proto"], record["address"], record["port"], record["pid"], child)
    return match


def test_a_full_disk_is_said_once_each_way_and_nothing_is_lost_silently(
        small_disk, listener_factory):
    proc = subprocess.Popen([sys.executable, "-m", "portwatch", "watch", "--json",
                             "--interval", "0.2"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    out, err = Lines(proc.stdout), Lines(proc.stderr)

    def said(text: str) -> int:
        return sum(text in line for line in list(err.seen))

    try:
        wait_until(lambda: paths.history_file().exists() and runs() == 1)
        filler = fill(small_disk)
        first = [listener_factory("tcp") for _ in range(3)]
        for child in first:
            out.wait_for(opened(child))
        wait_until(lambda: said("recording stopped") == 1)
        assert "the disk is full" in err.wait_for(lambda line: "recording stopped" in line)
        for child in first:
            assert recorded(child) == []  # not in the file yet, held in memory

        filler.unlink()  # room again: one message, and the held events reach the file
        wait_until(lambda: said("recording resumed") == 1)
        for child in first:
            wait_until(lambda c=child: recorded(c) == [OPENED])

        fill(small_disk)  # full again: said again, once
        late = listener_factory("tcp")
        out.wait_for(opened(late))
        wait_until(lambda: said("recording stopped") == 2)
        os.kill(proc.pid, signal.SIGINT)  # our own child, by its PID
        assert proc.wait(TIMEOUT) == 0
    except AssertionError as failure:  # say what watch said, to tell why
        raise AssertionError(f"{failure}; watch said on stderr: {''.join(err.seen)[-3000:]!r};"
                             f" {len(out.seen)} events printed") from None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(TIMEOUT)
        out.join()
        err.join()
        proc.stdout.close()
        proc.stderr.close()
    # Once per change, not at every poll (0.2 s polls while the disk was full).
    assert said("recording stopped") == 2 and said("recording resumed") == 1
    assert "Traceback" not in "".join(err.seen)
    assert recorded(late) == []
    (summary,) = [line for line in err.seen if "were not recorded" in line]
    assert "the disk is full" in summary
    missing = int(summary.split("portwatch: ")[1].split()[0])
    # Every event watch printed is either in the file or counted as not recorded.
    assert missing >= 1 and recorded_changes() + missing == len(out.seen)
