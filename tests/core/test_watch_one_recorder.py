"""One writer per data folder: of two real `portwatch watch` processes on one data folder, the
second prints every event but records none, says so, and takes over (from a snapshot) when the
first ends. The lock is an flock in the data folder (core/instance.py RecorderLock)."""

from __future__ import annotations

import io
import random
import socket
from pathlib import Path

from test_watch_cli import Watch, mine
from test_watch_window_policy import events_of, wait_for_stderr, wait_until

from portwatch.commands.watch import RecordUnlessWindow
from portwatch.core.desktop import instance
from portwatch.core.files import paths
from portwatch.core.store.history import CLOSED, OPENED, PRESENT, HistoryStore


def udp_neighbour() -> socket.socket:
    """A UDP socket on 127.0.0.1 whose port number TCP has free too, chosen below the kernel's
    ephemeral range: a port of that range can be taken for TCP at any moment by another
    program's connect() or bind(0) before the test's listener binds it (seen under load)."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    candidates = list(range(10000, max(low, 10001)))
    random.shuffle(candidates)
    for port in candidates:
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            udp.bind(("127.0.0.1", port))
            with socket.socket() as tcp:
                tcp.bind(("127.0.0.1", port))
        except OSError:
            udp.close()
            continue
        return udp
    raise AssertionError("no port below the ephemeral range is free for UDP and TCP")


def test_a_second_watch_prints_but_does_not_record_and_takes_over(listener_factory):
    # Another socket with the port number of the test's listener (as the standard load's UDP
    # and ::1 sockets sometimes have) is in the baseline: its `present` is not the test's.
    neighbour = udp_neighbour()
    first = Watch("--json", "--interval", "0.2")
    second = None
    try:
        wait_until(lambda: paths.history_file().exists()
                   and instance.RecorderLock(paths.data_dir()).holder() == first.proc.pid)
        second = Watch("--json", "--interval", "0.2")
        said = wait_for_stderr(second, "another portwatch watch")
        assert f"(pid {first.proc.pid}) records into {paths.history_file()}" in said
        assert "does not record them until that one ends" in said

        child = listener_factory("tcp", "127.0.0.1", neighbour.getsockname()[1])
        first.wait_for(mine(child, "opened"))
        second.wait_for(mine(child, "opened"))  # printed by both (recorded in that poll)
        assert events_of(child) == [OPENED]  # recorded once, not twice

        code, _ = first.stop()
        assert code == 0
        wait_for_stderr(second, f"the other watch (pid {first.proc.pid}) ended; recording to")
        wait_until(lambda: events_of(child) == [OPENED, PRESENT])  # a snapshot run
        child.stop()
        second.wait_for(mine(child, "closed"))
        wait_until(lambda: events_of(child) == [OPENED, PRESENT, CLOSED])
        code, stderr = second.stop()
        assert code == 0 and "Traceback" not in stderr
    finally:
        first.close()
        if second is not None:
            second.close()
        neighbour.close()


def test_the_lock_is_the_folder_not_the_name(tmp_path):
    """A symbolic link to the same data folder meets the same lock."""
    (tmp_path / "folder").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "folder")
    mine_, theirs = instance.RecorderLock(tmp_path / "folder"), instance.RecorderLock(
        tmp_path / "link")
    assert mine_.acquire() and not theirs.acquire()
    mine_.release()
    assert theirs.acquire()
    theirs.release()


def test_the_recorder_sink_steps_aside_while_another_holds_the_lock(tmp_path):
    other = instance.RecorderLock(tmp_path)
    assert other.acquire()
    err = io.StringIO()
    sink = RecordUnlessWindow(HistoryStore(tmp_path / "history.sqlite3"), err,
                              window_running=lambda: None)
    try:
        assert not sink._recorder() and not sink._recorder()
        assert err.getvalue().count("another portwatch watch") == 1  # said once
        other.release()
        assert sink._recorder()
        assert "ended; recording to" in err.getvalue()
    finally:
        sink.close()
