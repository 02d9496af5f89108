"""`list --host` and `watch --host` against a second "machine": a real sshd in a network
namespace (sshd_machine.py), reached over a veth pair, with key authentication."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

from fleet import wait_until
from sshd_machine import HOST, end


def test_list_host_shows_the_other_machines_listeners(machine, listener_factory):
    here = listener_factory()  # on this machine: must not appear
    remote, port = machine.listener()
    try:
        done = machine.portwatch("list", "--host", f"root@{HOST}", "--json")
        table = machine.portwatch("list", "--host", HOST)
    finally:
        end(remote)
    assert done.returncode == 0, done.stderr
    records = json.loads(done.stdout)
    assert {record["host"] for record in records} == {f"root@{HOST}"}
    ports = {record["port"]: record for record in records}
    assert ports[port]["pid"] == remote.pid and ports[port]["exposure"] == "loopback"
    assert ports[22]["address"] == machine.address and ports[22]["process"] == "sshd"
    assert ports[22]["exposure"] == "local-network"
    assert here.port not in ports  # the other machine's sockets, not ours
    assert table.returncode == 0, table.stderr
    assert table.stdout.startswith(f"host: {HOST}\n")
    assert any(line.split()[:3] == ["tcp", "127.0.0.1", str(port)]
               for line in table.stdout.splitlines())


def test_missing_portwatch_and_unreachable_hosts_are_explained(machine):
    (machine.bin_dir / "portwatch").unlink()
    done = machine.portwatch("list", "--host", HOST)
    assert done.returncode == 1
    assert f"portwatch is not installed on {HOST}" in done.stderr
    assert "pipx install portwatch" in done.stderr and "PORTWATCH_REMOTE_COMMAND" in done.stderr
    watch = machine.portwatch("watch", "--host", HOST)
    assert watch.returncode == 1 and "is not installed" in watch.stderr
    unreachable = machine.portwatch("list", "--host", "pwtest-nobody-home")
    assert unreachable.returncode == 1
    assert "cannot reach pwtest-nobody-home with ssh" in unreachable.stderr
    option = machine.portwatch("list", "--host=-oProxyCommand=touch /tmp/pwned")
    assert option.returncode == 2 and "not a host" in option.stderr


def test_watch_host_prints_events_and_reconnects(machine):
    log_path = machine.folder / "watch.log"
    with log_path.open("wb") as log:
        watch = subprocess.Popen([sys.executable, "-m", "portwatch", "watch", "--host", HOST,
                                  "--interval", "0.3", "--no-history", "--json"],
                                 stdout=subprocess.PIPE, stderr=log, text=True, env=machine.env())
    try:
        wait_until(lambda: f"{HOST}: watching" in log_path.read_text(), "the remote baseline")
        remote, port = machine.listener()
        try:
            while True:  # the namespace holds only our listeners, but be exact anyway
                record = json.loads(watch.stdout.readline())
                if record["port"] == port:
                    break
        finally:
            end(remote)
        assert (record["host"], record["event"], record["pid"]) == (HOST, "opened", remote.pid)
        # The remote watch dies (as on a reboot): the local one says so and reconnects.
        (remote_watch,) = [p for p in machine.sessions() if "--until-stdin-closes"
                           in " ".join(p.cmdline())]
        remote_watch.kill()
        wait_until(lambda: "disconnected" in log_path.read_text(), "the disconnection")
        wait_until(lambda: log_path.read_text().count(f"{HOST}: watching") == 2,
                   "the reconnection")
        assert "reconnecting in 1 s" in log_path.read_text()
        watch.send_signal(signal.SIGTERM)
        assert watch.wait(30) == 0, log_path.read_text()
    finally:
        end(watch)
    # Our ssh ended, so the remote watch saw its stdin close and ended too.
    wait_until(lambda: not [p for p in machine.sessions()
                            if "--until-stdin-closes" in " ".join(p.cmdline())],
               "the remote watch to end")
