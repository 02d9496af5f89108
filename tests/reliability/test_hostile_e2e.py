"""End to end, once: the real program on a private desktop (Xvfb, D-Bus, dunst: the e2e
suite's DesktopSession) gets a listener whose process name holds a right-to-left override, a
terminal escape, markup and bytes that are not UTF-8. The Notify call on the bus carries it
escaped for the notification markup, with every control, bidi and undecodable character as a
visible escape, and dunst shows it as text (no image, no raw escape)."""

from __future__ import annotations

import html
import os
import sys
from pathlib import Path

import psutil
import pytest
from rel_common import tally
from rel_hostile import raw_dangers, start_named

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))

from desktop import DesktopSession, PortwatchProcess, missing_programs, wait_until

from portwatch.core.files import paths
from portwatch.core.model import IgnoreRule
from portwatch.core.store.history import HistoryStore
from portwatch.core.text import visible

pytestmark = pytest.mark.e2e

PORTS = range(20100, 20200)  # outside the ephemeral range and the e2e suite's own ports
# The first 15 bytes are what the kernel keeps as the command name (ASCII here, so psutil
# takes the whole name from the command line): markup and a terminal escape, then a
# right-to-left override and bytes that are not UTF-8.
HOSTILE = b"<img src=x>\x1b[2J" + "\u202eexe.txt".encode() + b"\xff\xfe"


def free_port() -> int:
    import socket

    for port in PORTS:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.skip(f"no free loopback port in {PORTS}")


def test_a_hostile_name_reaches_the_notification_daemon_as_inert_text(isolated_dirs, tmp_path):
    missing = missing_programs()
    if missing:
        pytest.skip("needs " + ", ".join(missing) + " (see .ci/system-packages)")
    config, _data = isolated_dirs
    (config / "settings.yaml").write_text(
        "poll_interval: 0.5\nalert_min_polls: 1\nalert_rate_limit: 0\n")
    with HistoryStore(paths.history_file()) as store:  # other programs' listeners: silent
        store.add_ignore_rule(IgnoreRule(port_from=1, port_to=PORTS.start - 1))
        store.add_ignore_rule(IgnoreRule(port_from=PORTS.stop, port_to=65535))
    with DesktopSession(tray=False) as session:
        watcher = session.watch_bus()
        app = PortwatchProcess(session, tmp_path / "portwatch.log").start()
        bad = None
        try:
            app.wait_until_watching()
            bad = start_named(tmp_path, "e2e", HOSTILE, port=free_port())
            call = wait_until(
                lambda: [c for c in watcher.notify_calls()
                         if f"port {bad.port}/tcp" in c["summary"] and c["id"] is not None],
                15, "notification for the hostile listener")[0]
            name = psutil.Process(bad.pid).name()
            assert name == os.fsdecode(HOSTILE)
            for text in (call["summary"], call["body"]):
                assert not raw_dangers(text.replace("\n", "")), repr(text)
            assert call["summary"] == f"New listener: port {bad.port}/tcp ({visible(name, 40)})"
            assert "\\u202eexe.txt\\xff\\xfe" in visible(name)
            assert call["body"].startswith(html.escape(visible(name, 60), quote=False))
            assert "<img" not in call["body"] and "&lt;img src=x&gt;" in call["body"]
            rendered = [item for item in session.notification_history()
                        if item.get("id") == call["id"]]
            assert rendered and "[image]" not in rendered[0]["message"]
            assert "\x1b" not in rendered[0]["message"]
            assert "Traceback" not in app.log()
        finally:
            if bad is not None:
                bad.stop()
            app.stop()
            watcher.stop()
    tally("hostile input checks (input x surface)")
