"""The process at the other end of a local connection, in the real window's details pane: a
real client process connected to a real listener is named with its PID once the pane's
background lookup has answered; a peer that cannot be found says "unknown" and why (the
connection closed; run as nobody, no permission), and one being looked up says so."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap

import pytest
from children import end_child
from gui_rows import Recorder

from portwatch.core.model import (
    AnnotatedListener,
    ConnectionSummary,
    Exposure,
    Family,
    Listener,
    ListenerKey,
    Peer,
    Proto,
)
from portwatch.core.probe import PeerOwner, peer_processes
from portwatch.core.store.settings import Settings
from portwatch.gui.app import PortwatchGui, build_monitor
from portwatch.gui.views import report

pytestmark = pytest.mark.skipif(not hasattr(socket, "AF_NETLINK"), reason="Linux sock_diag")

CLIENT = textwrap.dedent("""
    import socket, sys
    conn = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    print(conn.getsockname()[1], flush=True)
    sys.stdin.read()
""")


@pytest.fixture
def gui(qtbot, tmp_path):
    monitor, catalog, problems = build_monitor()
    app = PortwatchGui(Settings(poll_interval=0.5), monitor, catalog, problems,
                       settings_path=tmp_path / "settings.yaml", min_interval=0.5)
    qtbot.addWidget(app.window)
    app.recorder = Recorder()
    app.worker.polled.connect(app.recorder.record)
    yield app
    app.shutdown()


@pytest.fixture
def client_of():
    started: list[subprocess.Popen] = []

    def connect(port: int) -> tuple[subprocess.Popen, int]:
        proc = subprocess.Popen([sys.executable, "-c", CLIENT, str(port)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        started.append(proc)
        return proc, int(proc.stdout.readline())

    yield connect
    for proc in started:
        end_child(proc)
        proc.stdin.close()
        proc.stdout.close()


def test_the_details_name_the_process_of_a_local_peer(qtbot, gui, listener_factory, client_of):
    server = listener_factory("tcp", "127.0.0.1")
    client, client_port = client_of(server.port)
    with open(f"/proc/{client.pid}/comm") as handle:
        name = handle.read().strip()
    key = ListenerKey(Proto.TCP, Family.IPV4, "127.0.0.1", server.port, server.pid)
    with qtbot.waitSignal(gui.recorder.recorded, timeout=20_000):
        gui.start()
    window = gui.window

    def connected() -> bool:
        row = window.model.row_of(key)
        item = window.model.item_at(row) if row is not None else None
        return item is not None and item.connections is not None \
            and item.connections.established == 1

    qtbot.waitUntil(connected, timeout=20_000)
    assert window.select_listener(key)
    pane = window.details
    wanted = f"This machine: 127.0.0.1:{client_port} — {name} (pid {client.pid})"

    def shown() -> str:
        return report.to_text(pane.current_report())

    qtbot.waitUntil(lambda: wanted in shown(), timeout=30_000)
    assert "looking up" not in shown()
    # and the view itself (label and text on lines of their own)
    assert f"127.0.0.1:{client_port} — {name} (pid {client.pid})" in pane.view.toPlainText()


def test_a_closed_peer_is_unknown_and_says_why(client_of):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        client, client_port = client_of(server.getsockname()[1])
        accepted, _ = server.accept()
        with accepted:
            (found,) = peer_processes({("127.0.0.1", client_port)}).values()
            assert found.pid == client.pid and found.name and found.reason is None
            end_child(client)
            gone = peer_processes({("127.0.0.1", client_port)})
    # closed: the client's end is in FIN_WAIT or TIME_WAIT now, not established
    assert gone == {("127.0.0.1", client_port): PeerOwner(None, None,
                                                          "the connection has closed")}


def test_a_peer_being_looked_up_and_one_not_found_say_so():
    listener = Listener(Proto.TCP, Family.IPV4, "127.0.0.1", 8080, Exposure.LOOPBACK)
    peers = (Peer("127.0.0.1", 51234, "local"), Peer("127.0.0.1", 51235, "local"))
    item = AnnotatedListener(listener, connections=ConnectionSummary(2, 1, 0, 2, peers))
    text = report.to_text(report.listener_report(item))
    assert "127.0.0.1:51234 — looking up…" in text
    owners = {("127.0.0.1", 51234): PeerOwner(4242, "curl"),
              ("127.0.0.1", 51235): PeerOwner(None, None, "the connection has closed")}
    text = report.to_text(report.listener_report(item, peers=owners))
    assert "This machine: 127.0.0.1:51234 — curl (pid 4242)" in text
    assert "This machine: 127.0.0.1:51235 — unknown: the connection has closed" in text


NOBODY_LOOKUP = textwrap.dedent("""
    import json, sys
    from portwatch.core.probe import peer_processes
    found = peer_processes({("127.0.0.1", int(sys.argv[1]))})
    print(json.dumps([list(owner) for owner in found.values()]))
""")


def test_a_peer_of_another_user_is_unknown_for_lack_of_permission(client_of, nobody_copy):
    """Run as nobody, the lookup cannot read root's processes: the peer is unknown, and the
    reason says it was a matter of permission (not that nobody holds the socket)."""
    import json

    from nobody import run_as_nobody

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        _client, client_port = client_of(server.getsockname()[1])
        accepted, _ = server.accept()
        with accepted:
            done = run_as_nobody(nobody_copy, ["-c", NOBODY_LOOKUP, str(client_port)])
    assert done.returncode == 0, done.stderr
    ((pid, name, reason),) = json.loads(done.stdout)
    assert pid is None and name is None
    assert reason.startswith("no permission to see every process's sockets")
