"""`portwatch watch` run as a real program: events for a listener the test opens and closes,
clean exit on SIGINT/SIGTERM, interval validation, history on by default."""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from portwatch.commands.watch import human_line
from portwatch.core.files import paths
from portwatch.core.model import (
    AnnotatedListener,
    Assessment,
    CatalogEntry,
    Exposure,
    Family,
    Listener,
    ProcessInfo,
    Proto,
    Risk,
)
from portwatch.core.store.history import HistoryError, HistoryReader

TIMEOUT = 30.0


class Watch:
    """A `portwatch watch` child whose stdout lines arrive on a queue."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "portwatch", "watch", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.errors: queue.Queue[str] = queue.Queue()
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self.lines), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, self.errors), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream, lines: queue.Queue[str]) -> None:
        for line in stream:
            lines.put(line)

    def wait_for_baseline(self, timeout: float = TIMEOUT) -> list[str]:
        """Human mode says "watching N listeners" on stderr after the first poll; returns the
        stderr lines up to it."""
        seen = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                seen.append(self.errors.get(timeout=0.2))
            except queue.Empty:
                assert self.proc.poll() is None, "".join(seen)
                continue
            if seen[-1].startswith("portwatch: watching "):
                return seen
        raise AssertionError("watch did not finish its baseline in time")

    def wait_for(self, predicate, timeout: float = TIMEOUT) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                assert self.proc.poll() is None, "watch ended early"
                continue
            if predicate(line):
                return line
        raise AssertionError("no matching line in time")

    def stop(self, sig: int = signal.SIGINT) -> tuple[int, str]:
        os.kill(self.proc.pid, sig)  # our own child, by its PID
        code = self.proc.wait(TIMEOUT)
        for reader in self._readers:
            reader.join(5)
        rest = []
        while not self.errors.empty():
            rest.append(self.errors.get())
        return code, "".join(rest)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        for stream in (self.proc.stdout, self.proc.stderr):
            stream.close()


@pytest.fixture
def watch():
    started: list[Watch] = []

    def factory(*args: str) -> Watch:
        child = Watch(*args)
        started.append(child)
        return child

    yield factory
    for child in started:
        child.close()


def wait_until_recording(timeout: float = TIMEOUT) -> None:
    """The first poll (the baseline) is done once the history has its run."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with HistoryReader(paths.history_file()) as reader:
                if reader.runs():
                    return
        except (FileNotFoundError, HistoryError):
            pass
        time.sleep(0.05)
    raise AssertionError("watch did not record its baseline")


def mine(child, event: str):
    def match(line: str) -> bool:
        record = json.loads(line)
        return (record["event"] == event and record["port"] == child.port
                and record["pid"] == child.pid and record["proto"] == child.proto)
    return match


def test_watch_json_reports_opened_then_closed_and_stops_on_sigint(watch, listener_factory):
    process = watch("--json", "--interval", "0.2")
    wait_until_recording()
    child = listener_factory("tcp", "127.0.0.1", 0)
    opened = json.loads(process.wait_for(mine(child, "opened")))
    child.stop()
    closed = json.loads(process.wait_for(mine(child, "closed")))
    code, stderr = process.stop(signal.SIGINT)
    assert code == 0, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr

    for record in (opened, closed):
        assert record["time"].endswith("Z") and len(record["time"]) == 20
        assert record["address"] == "127.0.0.1" and record["exposure"] == "loopback"
        assert {"proto", "family", "exe", "cmdline", "owner_hidden", "service", "risk"} <= set(
            record)
    assert opened["time"] <= closed["time"]

    # The same events are in the history file (`history --since 1h --json` reads them back).
    result = subprocess.run([sys.executable, "-m", "portwatch", "history", "--since", "1h",
                             "--json"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    recorded = [r for r in json.loads(result.stdout)
                if r["port"] == child.port and r["pid"] == child.pid]
    assert [r["event"] for r in recorded] == ["opened", "closed"]
    for live, stored in zip((opened, closed), recorded, strict=True):
        for name in ("event", "time", "proto", "family", "address", "port", "exposure", "pid",
                     "process", "user", "exe", "cmdline", "owner_hidden", "service", "risk"):
            assert stored[name] == live[name], name


def test_watch_all_netns_prints_namespace_events_and_records_only_the_hosts(
        watch, listener_factory):
    from namespaces import named_netns, root_skip_reason

    if root_skip_reason("ip"):
        pytest.skip(root_skip_reason("ip"))
    with named_netns("watch") as name:
        process = watch("--json", "--interval", "0.2", "--all-netns")
        wait_until_recording()
        child = listener_factory("tcp", "0.0.0.0", prefix=("ip", "netns", "exec", name))
        record = json.loads(process.wait_for(mine(child, "opened")))
        assert record["netns"] == name and record["exposure"] == "loopback"
        child.stop()
        process.wait_for(mine(child, "closed"))
        code, stderr = process.stop(signal.SIGINT)
        assert code == 0, stderr
    # A history row has no namespace: the container's or sandbox's events are not recorded.
    result = subprocess.run([sys.executable, "-m", "portwatch", "history", "--since", "1h",
                             "--json"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert not [r for r in json.loads(result.stdout) if r["pid"] == child.pid]


def human_event(child, event: str):
    return lambda text: f"{child.proto} 127.0.0.1:{child.port} " in text and f" {event} " in text


def test_watch_human_mode_stops_on_sigterm_and_says_what_it_watches(watch, listener_factory):
    process = watch("--interval", "0.2")
    (said,) = process.wait_for_baseline()
    assert "listeners every 0.2 s (recording to" in said
    child = listener_factory("udp", "127.0.0.1", 0)
    line = process.wait_for(human_event(child, "opened"))
    assert f"(pid {child.pid})" in line and "loopback only" in line
    code, stderr = process.stop(signal.SIGTERM)
    assert code == 0
    assert "Traceback" not in stderr


# The watch loop's own wait, as tight as it gets: a SIGTERM lands anywhere in it.
WAITING_LOOP = """
from portwatch.commands.stop_signal import StopOnSignal
with StopOnSignal() as stop:
    print("waiting", flush=True)
    while not stop.is_set():
        stop.wait(0)
print("stopped", flush=True)
"""


def test_a_sigterm_anywhere_in_the_wait_between_polls_stops_it():
    """A threading.Event set by the signal handler deadlocked when SIGTERM landed while the
    loop was inside Event.wait() holding the Event's lock (here: about one time in two), so
    `watch` ignored SIGTERM for good; the stop request now takes no lock."""
    for _ in range(10):
        with subprocess.Popen([sys.executable, "-c", WAITING_LOOP], stdout=subprocess.PIPE,
                              text=True) as proc:
            assert proc.stdout.readline() == "waiting\n"
            os.kill(proc.pid, signal.SIGTERM)  # our own child, by its PID
            try:
                code = proc.wait(TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
                raise AssertionError("SIGTERM was lost in the wait between polls") from None
            assert code == 0 and proc.stdout.read() == "stopped\n"


@pytest.mark.parametrize("after", [0.0, 0.1, 0.2, 0.3, 0.5, 0.8, 1.2, 2.0])
def test_a_sigterm_at_any_point_of_the_start_stops_it(watch, after):
    """SIGTERM `after` seconds from the start lands in a different phase each time (Python
    starting, settings, history, catalog, firewall, the baseline poll, the first wait): watch
    ends promptly each time: status 0 once its handler is in place (from the start of the
    command), killed by the signal only while Python itself is still starting."""
    process = watch("--interval", "0.2")
    time.sleep(after)  # not a wait for a condition: it picks the moment the signal lands
    code, stderr = process.stop(signal.SIGTERM)
    assert code in (0, -signal.SIGTERM), stderr
    assert "Traceback" not in stderr


def test_watch_no_history_writes_no_file(watch, listener_factory):
    process = watch("--interval", "0.2", "--no-history")
    (said,) = process.wait_for_baseline()
    assert "(not recording)" in said
    child = listener_factory("tcp", "127.0.0.1", 0)
    process.wait_for(human_event(child, "opened"))
    code, _ = process.stop()
    assert code == 0
    assert not paths.history_file().exists()


def test_watch_keeps_watching_when_the_history_file_is_damaged(watch, listener_factory):
    history = paths.history_file()
    history.write_bytes(b"not a database at all" * 100)
    before = history.read_bytes()
    process = watch("--interval", "0.2")
    said = "".join(process.wait_for_baseline())
    assert "warning: history file" in said and "is damaged" in said
    assert "keeps watching without saving history" in said and "(not recording)" in said
    child = listener_factory("tcp", "127.0.0.1", 0)
    process.wait_for(human_event(child, "opened"))
    code, stderr = process.stop()
    assert code == 0 and "Traceback" not in stderr
    assert history.read_bytes() == before


@pytest.mark.parametrize("value", ["0", "-1", "3601", "abc", "nan", "inf"])
def test_bad_intervals_are_usage_errors(value):
    result = subprocess.run([sys.executable, "-m", "portwatch", "watch", "--interval", value],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "portwatch: error: argument --interval" in result.stderr
    assert "Traceback" not in result.stderr


def test_human_line_format():
    sock = Listener(Proto.TCP, Family.IPV4, "0.0.0.0", 8000, Exposure.ALL_INTERFACES,
                    ProcessInfo(4242, "python3\x1b[31m"))
    row = AnnotatedListener(sock, CatalogEntry(8000, Proto.TCP, "http-alt"),
                            Assessment(Risk.LOW, "x"))
    when = 1795460645.0  # 2026-11-23T19:04:05Z
    assert human_line("opened", when, row) == (
        "2026-11-23T19:04:05Z  opened  tcp 0.0.0.0:8000  python3\\x1b[31m (pid 4242)"
        "  all interfaces  http-alt  risk low")
    hidden = AnnotatedListener(Listener(Proto.UDP, Family.IPV6, "::1", 53, Exposure.LOOPBACK,
                                        owner_hidden=True), CatalogEntry(53, Proto.UDP))
    assert human_line("closed", when, hidden) == (
        "2026-11-23T19:04:05Z  closed  udp [::1]:53  (hidden owner)  loopback only"
        "  unregistered")
    inside = AnnotatedListener(Listener(Proto.TCP, Family.IPV4, "0.0.0.0", 80, Exposure.LOOPBACK,
                                        ProcessInfo(7, "httpd"), netns="pwtest-a"))
    assert human_line("opened", when, inside) == (
        "2026-11-23T19:04:05Z  opened  tcp 0.0.0.0:80  httpd (pid 7)  loopback only"
        "  netns pwtest-a")
    postgres = AnnotatedListener(Listener(Proto.TCP, Family.IPV4, "127.0.0.1", 5432,
                                          Exposure.LOOPBACK, owner_hidden=True,
                                          socket_user="postgres"))
    assert "  (hidden owner, user postgres)  " in human_line("opened", when, postgres)
    execed = AnnotatedListener(Listener(Proto.TCP, Family.IPV4, "0.0.0.0", 8000,
                                        Exposure.ALL_INTERFACES, ProcessInfo(4242, "sleep")))
    assert human_line("changed", when, execed, row) == (
        "2026-11-23T19:04:05Z  changed  tcp 0.0.0.0:8000  sleep (pid 4242) was"
        " python3\\x1b[31m (pid 4242)  all interfaces")


def test_data_dir_is_the_tests(tmp_path):
    assert Path(os.environ["PORTWATCH_DATA_DIR"]) == tmp_path / "data"


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.skipif(shutil.which("systemd-socket-activate") is None,
                    reason="needs systemd-socket-activate (Debian package systemd)")
def test_watch_json_reports_an_exec_as_a_changed_owner(watch):
    """systemd-socket-activate listens, then exec()s the service on the first connection:
    same pid, same socket, another program. watch says so as one `changed` event."""
    import socket

    process = watch("--json", "--interval", "0.2")
    wait_until_recording()
    port = _free_port()
    activator = subprocess.Popen(
        ["systemd-socket-activate", "-l", f"127.0.0.1:{port}", "/usr/bin/python3", "-c",
         "import time; time.sleep(120)"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def on_port(event):
            return lambda line: (json.loads(line)["event"] == event
                                 and json.loads(line)["port"] == port)

        opened = json.loads(process.wait_for(on_port("opened")))
        assert opened["pid"] == activator.pid
        assert opened["process"] == "systemd-socket-activate"
        socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT).close()  # exec now
        changed = json.loads(process.wait_for(on_port("changed")))
        assert changed["pid"] == activator.pid
        assert changed["process"] == "python3"
        assert changed["exe"] == os.path.realpath("/usr/bin/python3")
        assert changed["previous"]["pid"] == activator.pid
        assert changed["previous"]["process"] == "systemd-socket-activate"
        assert changed["previous"]["exe"] == shutil.which("systemd-socket-activate")
        code, stderr = process.stop(signal.SIGINT)
        assert code == 0, stderr
    finally:
        activator.kill()  # our own child, by its PID
        activator.wait(10)
    result = subprocess.run([sys.executable, "-m", "portwatch", "history", "--since", "1h",
                             "--json"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    recorded = [(r["event"], r["process"]) for r in json.loads(result.stdout)
                if r["port"] == port and r["pid"] == activator.pid]
    assert recorded[:2] == [("opened", "systemd-socket-activate"), ("changed", "python3")]
