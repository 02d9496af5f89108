"""Who is connected: `portwatch list --json --peers` in the lab's host namespace counts a real
connection from the client namespace (another machine) and one from the host itself (this
machine, with the client's PID)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from lab import HOST_ADDR

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
