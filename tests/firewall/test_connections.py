"""Who is connected: `portwatch list --json --peers` in the lab's host namespace counts a real
connection from the client namespace (another machine) and one from the host itself (this
machine, with the client's PID); `watch` records the first connection from the network with
the peer's address, which `history`, `history --json` and the window's History tab show."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from lab import CLIENT_ADDR, HOST_ADDR

REPO = Path(__file__).resolve().parents[2]
PORT = 7000
HOLD = textwrap.dedent("""
    import socket, sys
    role, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if role == "server":
        srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind((addr, port)); srv.listen(); held = []
        print("ready", flush=True)
        while True:
            held.append(srv.accept()[0])
    conn = socket.create_connection((addr, port), timeout=30)
    print("ready", flush=True)
    sys.stdin.read()
""")


def _start(ns: str, *args: str) -> subprocess.Popen:
    proc = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", HOLD, *args],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    return proc


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(timeout=30)
    for pipe in (proc.stdin, proc.stdout):
        if pipe:
            pipe.close()


def test_connections_count_remote_and_local_peers(lab):
    lab.reset()
    started = []
    try:
        started.append(_start(lab.host, "server", "0.0.0.0", str(PORT)))
        remote = _start(lab.client, "client", HOST_ADDR, str(PORT))
        local = _start(lab.host, "client", HOST_ADDR, str(PORT))
        started += [remote, local]
        done = subprocess.run(["ip", "netns", "exec", lab.host, sys.executable, "-m",
                               "portwatch", "list", "--json", "--peers"],
                              capture_output=True, text=True, timeout=120, cwd=REPO)
    finally:
        for proc in started:
            _stop(proc)
    assert done.returncode == 0, done.stderr
    rows = {(r["proto"], r["port"]): r for r in json.loads(done.stdout)}
    conns = rows[("tcp", PORT)]["connections"]
    assert (conns["established"], conns["remote_peers"], conns["local_peers"],
            conns["distinct_addresses"]) == (2, 1, 1, 2)
    peers = {p["address"]: p["pid"] for p in conns["peers"]}
    # the local client runs under `ip netns exec`, which execs python: the same PID
    assert peers == {"10.77.0.2": None, HOST_ADDR: local.pid}
    assert rows[("udp", 53)]["connections"] is None
    assert rows[("tcp", 22)]["connections"]["established"] == 0


def _history(ns: str) -> list[dict]:
    done = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-m", "portwatch",
                           "history", "--json"], capture_output=True, text=True, timeout=120,
                          cwd=REPO)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _await_line(proc: subprocess.Popen, wanted, deadline: float = 60.0) -> dict:
    """The first JSON line of `proc`'s stdout for which `wanted(record)` holds."""
    import selectors
    import time

    assert proc.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    end = time.monotonic() + deadline
    try:
        while time.monotonic() < end:
            if not selector.select(timeout=max(0.0, end - time.monotonic())):
                break
            line = proc.stdout.readline()
            if not line:
                break
            record = json.loads(line)
            if wanted(record):
                return record
    finally:
        selector.close()
    raise AssertionError("the awaited watch line did not come")


def test_first_connection_from_the_network_is_in_watch_and_history(lab, qtbot):
    """`watch` in the lab's host namespace: a connection from this machine is not one from the
    network; the client namespace's connection is, once, as a `first-remote` event that the
    history keeps and `portwatch history` shows."""
    import time

    lab.reset()
    started = [_start(lab.host, "server", "0.0.0.0", str(PORT + 1))]
    watcher = subprocess.Popen(
        ["ip", "netns", "exec", lab.host, sys.executable, "-m", "portwatch", "watch", "--json",
         "--interval", "0.5"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        cwd=REPO)
    try:
        end = time.monotonic() + 60  # the baseline is recorded: watch is polling
        while not [e for e in _history(lab.host) if e["port"] == PORT + 1]:
            assert time.monotonic() < end, "watch recorded no baseline"
            time.sleep(0.2)
        started.append(_start(lab.host, "client", HOST_ADDR, str(PORT + 1)))  # this machine
        started.append(_start(lab.client, "client", HOST_ADDR, str(PORT + 1)))  # the network
        first = _await_line(watcher, lambda r: r["event"] == "first-remote")
        assert first["port"] == PORT + 1
        assert first["connections"]["remote_peers"] == 1
        assert {p["scope"] for p in first["connections"]["peers"]} == {"local", "lan"}
        started.append(_start(lab.client, "client", HOST_ADDR, str(PORT + 1)))  # a second one
        # the listener stays the same: no second first-remote for it (the next events a
        # new listener's opening, awaited as a marker that later polls ran)
        started.append(_start(lab.host, "server", "127.0.0.1", str(PORT + 2)))
        marker = _await_line(watcher, lambda r: r["event"] in ("opened", "first-remote")
                             and r["port"] in (PORT + 1, PORT + 2))
        assert (marker["event"], marker["port"]) == ("opened", PORT + 2)
    finally:
        watcher.terminate()
        watcher.wait(timeout=30)
        if watcher.stdout:
            watcher.stdout.close()
        for proc in started:
            _stop(proc)
    recorded = [e for e in _history(lab.host) if e["port"] in (PORT + 1, PORT + 2)]
    events = [(e["event"], e["port"]) for e in recorded]
    assert events.count(("first-remote", PORT + 1)) == 1
    assert events[0] == ("present", PORT + 1)  # the baseline, then the first remote peer
    # the history keeps who connected: the client namespace's address and port, as `watch`
    # saw it, and shows it in `portwatch history`
    (event,) = [e for e in recorded if e["event"] == "first-remote"]
    (peer,) = [p for p in first["connections"]["peers"] if p["scope"] == "lan"]
    assert event["peer"] == {"address": CLIENT_ADDR, "port": peer["port"], "scope": "lan"}
    assert all(e["peer"] is None for e in recorded if e["event"] != "first-remote")
    table = subprocess.run(["ip", "netns", "exec", lab.host, sys.executable, "-m", "portwatch",
                            "history"], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert table.returncode == 0, table.stderr
    assert f"first-remote from {CLIENT_ADDR}:{peer['port']} (local network)" in table.stdout
    # the window's History tab reads the same file: the event's cell names the peer
    from PySide6.QtCore import Qt

    from portwatch.core.files import paths
    from portwatch.gui.models.history_columns import Column
    from portwatch.gui.views.history_view import HistoryView

    view = HistoryView(paths.history_file())
    qtbot.addWidget(view)
    view.refresh()
    view.flush()
    wanted = f"first-remote from {CLIENT_ADDR}:{peer['port']} (local network)"
    cells = [view.model.index(row, Column.EVENT) for row in range(view.model.rowCount())]
    (cell,) = [cell for cell in cells if cell.data() == wanted]
    assert wanted in cell.data(Qt.ItemDataRole.ToolTipRole)  # however narrow the column
