"""`portwatch history` run as a real program against history files the test writes."""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
import time

import pytest

from portwatch.commands.history import duration
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
from portwatch.core.output.export import history_record
from portwatch.core.store import history_schema
from portwatch.core.store.history import CLOSED, OPENED, HistoryEvent, HistoryReader, HistoryStore


def portwatch(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "portwatch", *args], capture_output=True,
                          text=True, timeout=60)


def row(port: int, name: str = "python3") -> AnnotatedListener:
    sock = Listener(Proto.TCP, Family.IPV4, "127.0.0.1", port, Exposure.LOOPBACK,
                    ProcessInfo(4242, name, "alice", "/usr/bin/python3", ("python3", "-m", "x")))
    return AnnotatedListener(sock, CatalogEntry(port, Proto.TCP, "http-alt", "HTTP Alternate"),
                             Assessment(Risk.LOW, "loopback only"))


def record_some(now: float) -> list[HistoryEvent]:
    store = HistoryStore(paths.history_file())
    store.record_events([
        HistoryEvent.of(OPENED, now - 3 * 3600, row(7000), 1),  # 3 hours ago
        HistoryEvent.of(OPENED, now - 600, row(8000, "\x1b[2Jevil"), 2),  # 10 minutes ago
        HistoryEvent.of(CLOSED, now - 60, row(7000), 1),
    ], new_run=True)
    events = store.events()
    store.close()
    return events


@pytest.mark.parametrize(("text", "seconds"), [
    ("30s", 30), ("15m", 900), ("1h", 3600), ("2d", 172800), ("1w", 604800),
    ("1h30m", 5400), ("1.5h", 5400), (" 2D ", 172800),
])
def test_durations(text, seconds):
    assert duration(text) == seconds


@pytest.mark.parametrize("text", ["", "1", "h", "1y", "-1h", "1h-", "0s", "1 hour", "1e3s"])
def test_bad_durations_are_refused(text):
    with pytest.raises(argparse.ArgumentTypeError):
        duration(text)


def test_bad_duration_on_the_command_line_is_a_usage_error():
    result = portwatch("history", "--since", "yesterday")
    assert result.returncode == 2
    assert "portwatch: error: argument --since: not a duration: 'yesterday'" in result.stderr
    assert "Traceback" not in result.stderr


def test_no_history_yet_is_friendly_and_creates_nothing():
    result = portwatch("history")
    assert result.returncode == 0
    assert result.stdout.strip() == f"no history recorded yet ({paths.history_file()})"
    result = portwatch("history", "--json")
    assert result.returncode == 0 and json.loads(result.stdout) == []
    assert "no history recorded yet" in result.stderr
    assert not paths.history_file().exists()


def test_json_lists_recorded_events_oldest_first_within_since():
    events = record_some(time.time())
    result = portwatch("history", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [history_record(item) for item in events]
    result = portwatch("history", "--since", "1h", "--json")
    recent = json.loads(result.stdout)
    assert [(r["event"], r["port"]) for r in recent] == [("opened", 8000), ("closed", 7000)]
    assert recent[0]["process"] == "\x1b[2Jevil"  # JSON keeps the text (escaped by JSON)


def test_human_output_is_aligned_and_safe_for_the_terminal():
    record_some(time.time())
    result = portwatch("history", "--since", "2h")
    assert result.returncode == 0, result.stderr
    header, first, second = result.stdout.splitlines()
    assert header.split() == ["TIME", "EVENT", "PROTO", "ADDRESS", "PORT", "EXPOSURE", "PID",
                              "PROCESS", "SERVICE", "RISK", "HOST"]
    assert first.endswith(" local") and second.endswith(" local")  # this machine's events
    assert "opened" in first and "8000" in first and "\\x1b[2Jevil" in first
    assert "\x1b" not in result.stdout
    assert "closed" in second and "7000" in second
    end = header.index("PORT") + len("PORT")
    assert first[:end].endswith("8000") and second[:end].endswith("7000")
    result = portwatch("history", "--since", "5s")
    assert result.returncode == 0
    assert result.stdout.startswith("no events recorded in that time")


def test_a_damaged_file_is_a_clear_error_and_left_alone():
    path = paths.history_file()
    path.write_bytes(b"garbage" * 1000)
    result = portwatch("history")
    assert result.returncode == 1
    assert f"portwatch: history file {path} is damaged" in result.stderr
    assert "Traceback" not in result.stderr
    assert path.read_bytes() == b"garbage" * 1000


def test_a_file_from_an_older_version_is_upgraded_and_shown():
    path = paths.history_file()
    conn = sqlite3.connect(path, isolation_level=None)
    history_schema.MIGRATIONS[0](conn)  # the version 1 layout
    conn.execute("PRAGMA user_version = 1")
    conn.execute(
        "INSERT INTO events (time, event, proto, family, address, port, exposure, pid, process,"
        " owner_hidden) VALUES (?, 'opened', 'tcp', 'ipv4', '127.0.0.1', 9000, 'loopback', 7,"
        " 'old', 0)", (time.time() - 10,))
    conn.close()
    result = portwatch("history", "--json")
    assert result.returncode == 0, result.stderr
    (record,) = json.loads(result.stdout)
    assert (record["event"], record["port"], record["process"]) == ("opened", 9000, "old")
    with HistoryReader(path) as reader:
        assert reader.events()[0].listeners == 1


def test_limit_gives_the_first_events_and_refuses_nonsense():
    events = record_some(time.time())
    result = portwatch("history", "--limit", "2", "--json")
    assert result.returncode == 0, result.stderr
    assert [r["seq"] for r in json.loads(result.stdout)] == [e.id for e in events[:2]]
    for bad in ("0", "-1", "x"):
        refused = portwatch("history", "--limit", bad)
        assert refused.returncode == 2 and "--limit" in refused.stderr


def test_until_and_iso_times_bound_the_selection():
    now = time.time()
    record_some(now)
    result = portwatch("history", "--since", "4h", "--until", "5m", "--json")
    assert [r["port"] for r in json.loads(result.stdout)] == [7000, 8000]
    start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 300))
    result = portwatch("history", "--since", start, "--json")
    assert [(r["event"], r["port"]) for r in json.loads(result.stdout)] == [("closed", 7000)]


STREAM_SCRIPT = """
import re, sys
from portwatch.cli import main
code = main(sys.argv[1:])
sys.stdout.flush()
# VmHWM: this process's peak RSS (ru_maxrss would keep the parent's from before exec)
with open("/proc/self/status") as status:
    peak = re.search(r"VmHWM:\\s+(\\d+) kB", status.read()).group(1)
print(f"peak-rss-kib {peak}", file=sys.stderr)
sys.exit(code)
"""


def test_history_streams_a_big_file_in_constant_memory():
    """100,000 events (made with SQL): the first event arrives while the command is still
    reading (the pipe holds 64 KiB; the output is ~50 MB), and the peak memory stays that of
    a small process (loading them all took hundreds of MB)."""
    from history_fill import fill_history

    fill_history(paths.history_file(), 100_000)
    proc = subprocess.Popen([sys.executable, "-c", STREAM_SCRIPT, "history", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline() == "[\n"
        first = json.loads(proc.stdout.readline().rstrip(",\n"))
        assert first["event"] == "opened" and first["seq"] == 1
        assert proc.poll() is None  # still streaming: nothing was read whole first
        rest = sum(1 for _ in proc.stdout)
        _, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert rest == 100_000  # the other 99,999 events and the closing "]"
    peak_mib = int(err.split("peak-rss-kib ")[1].split()[0]) / 1024
    assert peak_mib < 80, f"history --json peaked at {peak_mib:.0f} MiB"
