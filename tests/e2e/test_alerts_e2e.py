"""End to end: the real portwatch program on a private desktop (Xvfb, D-Bus, dunst, trayer).

A listener opened on 127.0.0.1 by the test must reach the notification daemon naming its port
and process; a process named `<img src=x>` must arrive escaped; the tray icon must be embedded
in trayer; restarting the listener (new PID) or portwatch itself must not notify again; a second
launch must raise the first and exit; a listener opened while portwatch was not running is
reported at the next start; clicking a notification shows its listener; Quit in the tray menu
ends the program. Everything started here is ended by its PID.

What reached the daemon is read from the bus (a D-Bus monitor: the exact Notify arguments and
dunst's answer) and from dunst itself (`dunstctl history`: what it rendered). Other programs on
this machine may open listeners meanwhile (other test suites, load generators): ignore rules
stored in the history database before the start silence every port outside TEST_PORTS, which
also shows that the user's ignore rules survive restarts.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from desktop import PortwatchProcess, wait_until

from portwatch.core.files import paths
from portwatch.core.model import IgnoreRule
from portwatch.core.store.history import HistoryStore

pytestmark = pytest.mark.e2e

log = logging.getLogger(__name__)

# The test's listeners all run the same interpreter (one "program"): no rate limit between them.
SETTINGS = "poll_interval: 0.5\nalert_min_polls: 1\nalert_rate_limit: 0\n"
QUIET_WAIT = 3.0  # seconds without a notification that would have come within ~1.5 s
TEST_PORTS = range(20000, 20100)  # outside Linux's ephemeral range (32768-60999)


def free_test_port() -> int:
    for port in TEST_PORTS:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.skip(f"no free loopback port in {TEST_PORTS}")


def silence_other_ports() -> None:
    """Ignore rules for every port but TEST_PORTS, stored where portwatch keeps them."""
    with HistoryStore(paths.history_file()) as store:
        store.add_ignore_rule(IgnoreRule(port_from=1, port_to=TEST_PORTS.start - 1))
        store.add_ignore_rule(IgnoreRule(port_from=TEST_PORTS.stop, port_to=65535))


def calls_about(watcher, port: int) -> list[dict]:
    """Notify calls whose summary names the port, answered by the server."""
    return [call for call in watcher.notify_calls()
            if f"port {port}/tcp" in call["summary"] and call["id"] is not None]


def rendered(session, server_id: int) -> dict[str, str]:
    """What dunst made of notification `server_id` (its history entry)."""
    for item in session.notification_history():
        if item.get("id") == server_id:
            return item
    raise AssertionError(f"dunst has no notification {server_id}")


@pytest.fixture
def watcher(desktop_session):
    bus_watcher = desktop_session.watch_bus()
    yield bus_watcher
    bus_watcher.stop()


def test_new_listener_notifies_once_with_tray_and_escaped_names(
        desktop_session, watcher, listener_factory, isolated_dirs, tmp_path):
    session = desktop_session
    config, _data = isolated_dirs
    (config / "settings.yaml").write_text(SETTINGS)
    silence_other_ports()
    assert "portwatch" not in session.tray_icons()

    app = PortwatchProcess(session, tmp_path / "portwatch-1.log").start()
    try:
        app.wait_until_watching()
        # The tray icon is embedded in trayer's panel, and the app says it showed it.
        wait_until(lambda: "portwatch" in session.tray_icons(), 10, "tray icon in trayer")
        assert "tray icon shown; notifications: dbus" in app.log()

        # 1. A new listener on loopback: one notification naming its port and process.
        started = time.monotonic()
        child = listener_factory("tcp", "127.0.0.1", free_test_port())
        call = wait_until(lambda: calls_about(watcher, child.port), 10,
                          "notification for the new listener")[0]
        log.warning("bind -> Notify on the bus %.2f s, -> dunst answered %.2f s"
                    " (poll_interval 0.5 s, alert_min_polls 1)",
                    call["time"] - started, call["answered"] - started)
        name = Path(sys.executable).name[:15]  # the command name the kernel keeps (comm)
        assert call["app"] == "portwatch"
        assert call["summary"] == f"New listener: port {child.port}/tcp ({name})"
        assert call["body"].startswith(f"{name} (pid {child.pid}) on tcp 127.0.0.1:{child.port}")
        assert call["hints"]["urgency"] == ("y", 1)
        assert call["actions"] == ["default", "Show"]
        # Clicking it (dunst's default action) shows that listener in the window.
        subprocess.run(["dunstctl", "action", "0"], env=session.env, check=True, timeout=5)
        wait_until(lambda: f"showing the listener on tcp port {child.port} (pid {child.pid})"
                   in app.log(), 5, "the window showing the clicked listener")
        item = rendered(session, call["id"])
        assert item["appname"] == "portwatch" and item["summary"] == call["summary"]

        # 2. A hostile process name arrives escaped for the notification markup.
        hostile = tmp_path / "<img src=x>"
        hostile.symlink_to(os.path.realpath(sys.executable))
        bad = listener_factory("tcp", "127.0.0.1", free_test_port(), executable=str(hostile))
        call = wait_until(lambda: calls_about(watcher, bad.port), 10,
                          "notification for the hostile listener")[0]
        assert call["summary"] == f"New listener: port {bad.port}/tcp (<img src=x>)"
        assert call["body"].startswith(f"&lt;img src=x&gt; (pid {bad.pid})")
        assert "<img" not in call["body"]
        item = rendered(session, call["id"])
        assert "[image]" not in item["message"]  # dunst showed the name, not an image
        assert "&lt;img src=x&gt; (pid" in item["message"]

        # 3. The same program restarting on the same port (new PID) is not new.
        port, old_pid = child.port, child.pid
        child.stop()
        time.sleep(1.2)  # portwatch sees it close
        again = listener_factory("tcp", "127.0.0.1", port)
        assert again.pid != old_pid
        time.sleep(QUIET_WAIT)
        assert len(calls_about(watcher, port)) == 1

        # 4. A second launch raises the first and exits.
        second = subprocess.run([sys.executable, "-m", "portwatch"], env=session.env,
                                capture_output=True, text=True, timeout=30)
        assert second.returncode == 0, second.stderr
        assert app.running()
        wait_until(lambda: "asked to raise the window" in app.log(), 5, "raise request")
    finally:
        app.stop()

    # 5. Restarting portwatch does not notify again for listeners it already reported, and
    #    tells about one that opened while it was not running (the memory is in the history).
    late = listener_factory("tcp", "127.0.0.1", free_test_port())
    app = PortwatchProcess(session, tmp_path / "portwatch-2.log").start()
    try:
        app.wait_until_watching()
        # Other programs of the machine may have opened listeners meanwhile too: then the one
        # start-up notification counts them ("3 listeners opened while …") and names each.
        def opened_while_down() -> list[dict]:
            return [call for call in watcher.notify_calls()
                    if "opened while portwatch was not running" in call["summary"].lower()
                    and call["id"] is not None
                    and (f"port {late.port}/tcp" in call["summary"]
                         or f":{late.port}" in call["body"])]

        wait_until(opened_while_down, 10,
                   "notification for the listener opened while portwatch was down")
        time.sleep(QUIET_WAIT)
        assert len(calls_about(watcher, port)) == 1
        assert len(calls_about(watcher, bad.port)) == 1
        assert len(calls_about(watcher, late.port)) == 1

        # 6. Quit from the tray icon's menu ends portwatch (the window's close is not refused).
        session.click_tray_icon("portwatch")
        time.sleep(0.5)
        session.keys("Up", "Return")  # the menu's last entry: Quit
        assert app.proc.wait(10) == 0
    finally:
        app.stop()


def top_level_windows(session, name: str) -> list[str]:
    """`xwininfo -tree` lines of the root's direct children named `name`."""
    lines = session._tree()
    children = [line for line in lines if line.startswith("     0x")]  # root's children
    return [line.strip() for line in children if f'"{name}":' in line]


def test_without_a_notification_server_the_tray_shows_the_alert(
        desktop_factory, listener_factory, isolated_dirs, tmp_path):
    session = desktop_factory(notifications=False)
    config, _data = isolated_dirs
    (config / "settings.yaml").write_text(SETTINGS)
    silence_other_ports()
    app = PortwatchProcess(session, tmp_path / "portwatch.log").start()
    try:
        app.wait_until_watching()
        assert "tray icon shown; notifications: tray" in app.log()
        before = set(top_level_windows(session, "portwatch"))
        child = listener_factory("tcp", "127.0.0.1", free_test_port())
        wait_until(lambda: f"New listener: port {child.port}/tcp" in app.log(), 10, "the alert")
        # Qt's balloon next to the tray icon: a new small top-level window of portwatch.
        wait_until(lambda: set(top_level_windows(session, "portwatch")) - before, 5,
                   "the tray balloon")
    finally:
        app.stop()


def test_start_minimised_shows_only_the_tray_until_launched_again(
        desktop_session, isolated_dirs, tmp_path):
    session = desktop_session
    config, _data = isolated_dirs
    (config / "settings.yaml").write_text(SETTINGS + "start_minimised: true\n")
    silence_other_ports()
    app = PortwatchProcess(session, tmp_path / "portwatch.log").start()
    try:
        app.wait_until_watching(window=False)
        wait_until(lambda: "portwatch" in session.tray_icons(), 10, "tray icon in trayer")
        time.sleep(0.5)
        assert session.window_ids("portwatch") == []  # no window: only the tray icon
        second = subprocess.run([sys.executable, "-m", "portwatch"], env=session.env,
                                capture_output=True, text=True, timeout=30)
        assert second.returncode == 0, second.stderr
        wait_until(lambda: session.window_ids("portwatch"), 5, "the window, raised")
    finally:
        app.stop()
