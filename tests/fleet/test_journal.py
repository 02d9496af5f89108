"""`watch --journal` against a real systemd-journald and read back with the real journalctl;
`watch --syslog` against a datagram socket the test binds, parsed as RFC 5424.

systemd is not PID 1 here, so the test starts its own journald in a private mount namespace
(`unshare -m`) with tmpfs over /run/systemd, /run/log and /var/log/journal: it creates its
native socket there and writes a volatile journal only this test reads (through
/proc/<journald>/root). No rsyslog runs here; the syslog socket is the test's own, bound at a
temp path given to portwatch through PORTWATCH_SYSLOG_SOCKET, and the message is checked
field by field against RFC 5424's grammar.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from fleet import annotated, need_root_and, portwatch_env, wait_until

from portwatch.core.model import Risk
from portwatch.core.output import journal
from portwatch.core.output.syslog5424 import message

JOURNALD = next((path for path in ("/lib/systemd/systemd-journald",
                                   "/usr/lib/systemd/systemd-journald") if os.path.exists(path)),
                None)
MOUNTS = ("/run/systemd", "/run/log", "/var/log/journal")


@pytest.fixture
def journald(tmp_path, daemons):
    """A journald of the test's own; yields its /proc/<pid>/root (the namespace's files)."""
    need_root_and("unshare", "journalctl")
    if JOURNALD is None:
        pytest.skip("needs systemd-journald (package systemd)")
    mounts = " && ".join(f"mount -t tmpfs tmpfs {path}" for path in MOUNTS
                         if os.path.isdir(path))
    daemon = daemons(["unshare", "-m", "--propagation", "private", "sh", "-c",
                      f"{mounts} && exec {JOURNALD}"], tmp_path / "journald.log",
                     env={**os.environ, "SYSTEMD_LOG_TARGET": "console"})  # not the kernel log
    root = Path(f"/proc/{daemon.pid}/root")
    wait_until(lambda: (root / "run/systemd/journal/socket").exists() or (not daemon.alive()
               and pytest.fail(daemon.log())), "journald's socket")
    return root


def read_journal(root: Path, *matches: str) -> list[dict]:
    folders = glob.glob(str(root / "run/log/journal/*"))
    if not folders:
        return []
    argv = ["journalctl", "--directory", folders[0], "-o", "json", "--all", "--no-pager"]
    done = subprocess.run([*argv, *matches], capture_output=True, text=True, timeout=60,
                          check=False)
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def test_watch_journal_events_reach_journald(journald, listener_factory, daemons, tmp_path):
    env = portwatch_env(PORTWATCH_JOURNAL_SOCKET=str(journald / "run/systemd/journal/socket"))
    watch = daemons([sys.executable, "-m", "portwatch", "watch", "--journal", "--interval",
                     "0.3", "--no-history"], tmp_path / "watch.log", env=env)
    wait_until(lambda: "watching" in watch.log(), "the baseline")
    child = listener_factory()
    match = f"PORTWATCH_PORT={child.port}"
    opened = wait_until(lambda: read_journal(journald, match), "the opened event")
    child.stop()
    entries = wait_until(lambda: len(read_journal(journald, match)) == 2
                         and read_journal(journald, match), "the closed event")
    assert [e["PORTWATCH_EVENT"] for e in entries] == ["opened", "closed"]
    first = opened[0]
    assert first["SYSLOG_IDENTIFIER"] == "portwatch"
    assert first["_TRANSPORT"] == "journal"  # the native protocol, not stdout or syslog
    assert first["_PID"] == str(watch.pid)  # the kernel's word on who sent it
    assert first["PORTWATCH_PID"] == str(child.pid)
    assert first["PORTWATCH_ADDRESS"] == "127.0.0.1" and first["PORTWATCH_PROTO"] == "tcp"
    assert first["PORTWATCH_EXPOSURE"] == "loopback"
    risk = first["PORTWATCH_RISK"]
    assert first["PRIORITY"] == str({"high": 3, "medium": 4, "low": 5, "none": 6}[risk])
    assert f"127.0.0.1:{child.port}" in first["MESSAGE"] and "opened" in first["MESSAGE"]
    assert entries[1]["PRIORITY"] == "6"
    assert "cannot write" not in watch.log()


def test_binary_fields_and_a_datagram_too_large_for_the_socket(journald):
    row = annotated("two\nlines\udcff", 2375, Risk.HIGH, cmdline=("x", "--a=b c"))
    writer = journal.JournalWriter(str(journald / "run/systemd/journal/socket"))
    try:
        fields = list(journal.event_fields("opened", 1.0e9, row))
        writer.send(journal.entry("small", journal.priority("opened", row), fields))
        big = [("BIG_" + str(n), chr(65 + n) * 60_000) for n in range(6)]
        large = journal.entry("large", 6, [*fields, *big])
        # too large for one datagram (the plain send fails): it must go as a memfd
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as plain, \
                pytest.raises(OSError, match="too long"):
            plain.sendto(large, writer.path)
        writer.send(large)
    finally:
        writer.close()
    found = wait_until(lambda: len(read_journal(journald, "PORTWATCH_PORT=2375")) == 2
                       and read_journal(journald, "PORTWATCH_PORT=2375"), "both entries")
    small, large = found
    assert small["PRIORITY"] == "3"  # high risk: err
    # A value with a line feed or non-UTF-8 bytes is a binary field: journalctl's JSON gives
    # its bytes as a list of numbers.
    assert bytes(small["PORTWATCH_PROCESS"]) == b"two\nlines\xff"
    assert small["PORTWATCH_CMDLINE"] == "x '--a=b c'"
    assert large["MESSAGE"] == "large"
    assert large["PORTWATCH_BIG_5"] == "F" * 60_000


# -- syslog -------------------------------------------------------------------------------------

RFC5424 = re.compile(
    r"<(?P<pri>\d{1,3})>1 (?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z) (?P<host>[!-~]{1,255})"
    r" (?P<app>[!-~]{1,48}) (?P<procid>[!-~]{1,128}) (?P<msgid>[!-~]{1,32})"
    r" (?P<sd>\[[^ =\]\"]+(?: [^ =\]\"]+=\"(?:[^\"\\\]]|\\[\"\\\]])*\")*\]) \ufeff(?P<msg>.*)",
    re.DOTALL)


def sd_params(sd: str) -> dict[str, str]:
    return {key: re.sub(r"\\([\"\\\]])", r"\1", value)
            for key, value in re.findall(r' ([^ =\]"]+)="((?:[^"\\\]]|\\["\\\]])*)"', sd)}


def test_syslog_message_follows_rfc5424():
    data = message(3, "opened", "line with ] and \" and \\", [
        ("process", 'a"]b\\c'), ("port", "2375")], when=1_700_000_000.25, hostname="host one",
        procid=77)
    match = RFC5424.fullmatch(data.decode("utf-8"))
    assert match, data
    assert match["pri"] == str(3 * 8 + 3) and match["ts"] == "2023-11-14T22:13:20.250000Z"
    assert match["host"] == "hostone" and match["app"] == "portwatch"
    assert match["procid"] == "77" and match["msgid"] == "opened"
    assert match["sd"].startswith("[portwatch@32473 ")
    assert sd_params(match["sd"]) == {"process": 'a"]b\\c', "port": "2375"}


def test_watch_syslog_sends_rfc5424(tmp_path, listener_factory, daemons):
    if shutil.which("ip") is None and not sys.platform.startswith("linux"):
        pytest.skip("Unix datagram sockets")
    path = tmp_path / "log.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(str(path))
        server.settimeout(30)
        env = portwatch_env(PORTWATCH_SYSLOG_SOCKET=str(path))
        watch = daemons([sys.executable, "-m", "portwatch", "watch", "--syslog", "--interval",
                         "0.3", "--no-history"], tmp_path / "watch.log", env=env)
        wait_until(lambda: "watching" in watch.log(), "the baseline")
        child = listener_factory()
        while True:  # other programs' listeners come and go too: find ours
            match = RFC5424.fullmatch(server.recv(65536).decode("utf-8"))
            assert match
            params = sd_params(match["sd"])
            if params.get("port") == str(child.port):
                break
    assert match["msgid"] == "opened" and match["procid"] == str(watch.pid)
    assert int(match["pri"]) // 8 == 3  # daemon
    assert params["pid"] == str(child.pid) and params["exposure"] == "loopback"
    assert f"127.0.0.1:{child.port}" in match["msg"]
