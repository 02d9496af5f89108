"""One recorder at a time: `portwatch watch` records the history only while no portwatch window
runs (the window records the same events into the same file). When the window closes, watch
records again, from a snapshot as if it had just started."""

from __future__ import annotations

import fcntl
import io
import os
import queue
import time
from pathlib import Path

import pytest
from test_watch_cli import TIMEOUT, Watch, mine

from portwatch.commands.watch import RecordUnlessWindow
from portwatch.core.desktop import instance
from portwatch.core.files import paths
from portwatch.core.model import Exposure, Family, Listener, ProcessInfo, Proto, Snapshot
from portwatch.core.monitor import Monitor
from portwatch.core.store.history import CLOSED, OPENED, PRESENT, HistoryReader, HistoryStore

T0 = 1_795_000_000.0


def sock(port: int, pid: int) -> Listener:
    return Listener(Proto.TCP, Family.IPV4, "127.0.0.1", port, Exposure.LOOPBACK,
                    ProcessInfo(pid, f"p{port}"))


def stored(path: Path) -> list[tuple[str, int, int]]:
    with HistoryReader(path) as reader:
        return [(e.event, e.listener.port, e.run_id) for e in reader.events()]


def test_polls_while_a_window_runs_are_not_recorded_and_recording_resumes_with_a_snapshot(
        tmp_path):
    path = tmp_path / "history.sqlite3"
    window = [None]
    err = io.StringIO()
    store = HistoryStore(path, clock=lambda: T0 + 1000)
    sink = RecordUnlessWindow(store, err, window_running=lambda: window[0])
    a, b, c = sock(1001, 1), sock(1002, 2), sock(1003, 3)
    scans = iter([(a,), (a, b), (a, b, c), (b, c), (c,)])
    taken = iter(range(10))
    monitor = Monitor(lambda: Snapshot(T0 + next(taken), next(scans)), history=sink)

    monitor.poll()  # no window: the baseline is recorded
    assert stored(path) == [(PRESENT, 1001, 1)]
    window[0] = 4242  # a window starts: it records b opening, not watch
    monitor.poll()
    monitor.poll()
    assert stored(path) == [(PRESENT, 1001, 1)]
    assert "window (pid 4242) records the history" in err.getvalue()
    window[0] = None  # the window quits: a new run, from what listens now
    monitor.poll()
    monitor.poll()
    assert stored(path) == [(PRESENT, 1001, 1), (PRESENT, 1002, 2), (PRESENT, 1003, 2),
                            (CLOSED, 1002, 2)]
    assert "window closed; recording to" in err.getvalue()
    sink.close()


def test_without_a_window_every_poll_is_recorded(tmp_path):
    path = tmp_path / "history.sqlite3"
    sink = RecordUnlessWindow(HistoryStore(path, clock=lambda: T0 + 1000), io.StringIO(),
                              window_running=lambda: None)
    scans = iter([(sock(1, 1),), (sock(1, 1), sock(2, 2))])
    taken = iter(range(10))
    monitor = Monitor(lambda: Snapshot(T0 + next(taken), next(scans)), history=sink)
    monitor.poll()
    monitor.poll()
    assert stored(path) == [(PRESENT, 1, 1), (OPENED, 2, 1)]
    sink.close()


@pytest.fixture
def runtime_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "run"
    folder.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(folder))  # the watch child inherits it
    return folder


def wait_for_stderr(process: Watch, text: str) -> str:
    deadline = time.monotonic() + TIMEOUT
    seen = []
    while time.monotonic() < deadline:
        try:
            seen.append(process.errors.get(timeout=0.2))
        except queue.Empty:
            assert process.proc.poll() is None, "".join(seen)
            continue
        if text in seen[-1]:
            return seen[-1]
    raise AssertionError(f"watch never said {text!r}; it said {''.join(seen)!r}")


def wait_until(predicate, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def events_of_port(port: int) -> list[str]:
    with HistoryReader(paths.history_file()) as reader:
        return [e.event for e in reader.events() if e.listener.port == port]


def events_of(child) -> list[str]:
    """The recorded events of the test's own listener: its protocol, address, port and PID.
    (Its port alone is not enough: a TCP listener on ::1 or a UDP socket of another program,
    such as the standard load's, may have the same port number.)"""
    with HistoryReader(paths.history_file()) as reader:
        return [e.event for e in reader.events()
                if (e.listener.proto.value, e.listener.address, e.listener.port,
                    e.listener.pid) == (child.proto, child.host, child.port, child.pid)]


def test_the_real_watch_leaves_recording_to_a_running_window(runtime_dir, listener_factory):
    lock = instance.lock_path()
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)  # what the window's QLockFile holds
    os.write(fd, f"{os.getpid()}\nportwatch\nhost\n".encode())
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    process = Watch("--json", "--interval", "0.2")
    try:
        said = wait_for_stderr(process, "records the history while it runs")
        assert f"(pid {os.getpid()})" in said
        child = listener_factory("tcp", "127.0.0.1", 0)
        process.wait_for(mine(child, "opened"))  # watch still prints every event
        assert events_of(child) == []  # ... but leaves the recording to the window

        os.close(fd)  # the window quits (its lock goes with it)
        fd = -1
        lock.unlink()
        wait_for_stderr(process, "window closed; recording to")
        wait_until(lambda: events_of(child) == [PRESENT])  # a snapshot run
        child.stop()
        process.wait_for(mine(child, "closed"))
        wait_until(lambda: events_of(child) == [PRESENT, CLOSED])
        code, stderr = process.stop()
        assert code == 0 and "Traceback" not in stderr
    finally:
        if fd >= 0:
            os.close(fd)
        process.close()


def test_watch_keeps_history_as_long_as_the_settings_say(listener_factory):
    """`history_retention_days` is the window's setting and watch's too: an event 100 days old
    stays with 3650 days (the default of 90 would delete it when watch opens the file)."""
    (paths.config_dir() / "settings.yaml").write_text("history_retention_days: 3650\n")
    old = time.time() - 100 * 86400
    store = HistoryStore(paths.history_file(), clock=lambda: old)
    scans = iter([(sock(1999, 9),)])
    Monitor(lambda: Snapshot(old, next(scans)), history=store).poll()
    store.close()
    # A recent event: age counts from the newest one (test_history_clock.py).
    store = HistoryStore(paths.history_file(), retention_days=3650)
    scans = iter([(sock(1998, 8),)])
    Monitor(lambda: Snapshot(time.time(), next(scans)), history=store).poll()
    store.close()
    process = Watch("--interval", "0.2")
    try:
        said = "".join(process.wait_for_baseline())
        assert "warning" not in said
        code, _ = process.stop()
        assert code == 0
    finally:
        process.close()
    assert events_of_port(1999) == [PRESENT]
