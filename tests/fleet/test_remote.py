"""`list --host` and `watch --host` against a second "machine": a real sshd in a network
namespace the test makes, reached over a veth pair, with key authentication (keys, host key
and known_hosts made by the test; no password anywhere). The remote portwatch is this checkout,
put on the session's PATH by sshd's SetEnv; removing it from there is the "not installed" case.
sshd runs in a private mount namespace with a tmpfs on /run (its privilege-separation folder),
so nothing is left on this machine."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import psutil
import pytest
from fleet import REPO, need_root_and, portwatch_env, wait_until

LISTENER = ("import socket,sys\ns=socket.socket()\ns.bind(('127.0.0.1',0))\ns.listen()\n"
            "print(s.getsockname()[1],flush=True)\nsys.stdin.read()")
HOST = "pwtest-remote"


class Machine:
    """The namespace, its sshd and the client's ssh configuration."""

    def __init__(self, folder: Path, netns: str, address: str, sshd: subprocess.Popen,
                 bin_dir: Path) -> None:
        self.folder, self.netns, self.address, self.sshd = folder, netns, address, sshd
        self.bin_dir = bin_dir

    def env(self) -> dict[str, str]:
        return portwatch_env(PORTWATCH_SSH_COMMAND=f"ssh -F {self.folder / 'ssh_config'}")

    def portwatch(self, *args: str, **popen) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "portwatch", *args], capture_output=True,
                              text=True, timeout=120, env=self.env(), check=False, **popen)

    def listener(self) -> tuple[subprocess.Popen, int]:
        """A listener inside the remote machine (127.0.0.1 of its namespace)."""
        proc = subprocess.Popen(["ip", "netns", "exec", self.netns, sys.executable, "-c",
                                 LISTENER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                text=True)
        return proc, int(proc.stdout.readline())

    def sessions(self) -> list[psutil.Process]:
        """Processes sshd started for logins (what runs on the remote machine)."""
        try:
            return psutil.Process(self.sshd.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []


def end(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(10)
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream:
            stream.close()


def keygen(path: Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "pwtest", "-f",
                    str(path)], check=True, timeout=60)
    return path.with_suffix(".pub").read_text().strip()


@pytest.fixture
def machine(tmp_path, netns):
    need_root_and("ssh", "ssh-keygen", "unshare", "/usr/sbin/sshd")
    host_side, ns_side = f"pwt{uuid.uuid4().hex[:6]}h", f"pwt{uuid.uuid4().hex[:6]}n"
    net = f"10.213.{random.randint(0, 255)}"
    local, address = f"{net}.1", f"{net}.2"
    subprocess.run(["ip", "link", "add", host_side, "type", "veth", "peer", "name", ns_side],
                   check=True)
    sshd = None
    try:
        subprocess.run(["ip", "link", "set", ns_side, "netns", netns], check=True)
        subprocess.run(["ip", "addr", "add", f"{local}/30", "dev", host_side], check=True)
        subprocess.run(["ip", "link", "set", host_side, "up"], check=True)
        subprocess.run(["ip", "-n", netns, "addr", "add", f"{address}/30", "dev", ns_side],
                       check=True)
        subprocess.run(["ip", "-n", netns, "link", "set", ns_side, "up"], check=True)
        host_key = keygen(tmp_path / "host_key")
        (tmp_path / "authorized_keys").write_text(keygen(tmp_path / "client_key") + "\n")
        (tmp_path / "known_hosts").write_text(f"{address} {host_key}\n")
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        (bin_dir / "portwatch").symlink_to(Path(sys.executable).with_name("portwatch"))
        remote_config, remote_data = tmp_path / "remote-config", tmp_path / "remote-data"
        remote_config.mkdir()
        remote_data.mkdir()
        (tmp_path / "sshd_config").write_text(textwrap.dedent(f"""\
            ListenAddress {address}
            HostKey {tmp_path / 'host_key'}
            AuthorizedKeysFile {tmp_path / 'authorized_keys'}
            PasswordAuthentication no
            KbdInteractiveAuthentication no
            PubkeyAuthentication yes
            PermitRootLogin prohibit-password
            UsePAM no
            StrictModes no
            PidFile none
            SetEnv PATH={bin_dir}:/usr/bin:/bin PYTHONPATH={REPO} \
              PORTWATCH_CONFIG_DIR={remote_config} PORTWATCH_DATA_DIR={remote_data}
            """))
        (tmp_path / "ssh_config").write_text(textwrap.dedent(f"""\
            Host {HOST}
              HostName {address}
              User root
              IdentityFile {tmp_path / 'client_key'}
              IdentitiesOnly yes
              UserKnownHostsFile {tmp_path / 'known_hosts'}
              GlobalKnownHostsFile /dev/null
              StrictHostKeyChecking yes
            Host pwtest-nobody-home
              HostName {local}
              Port 9
              UserKnownHostsFile /dev/null
              ConnectTimeout 10
            """))
        log = (tmp_path / "sshd.log").open("wb")
        sshd = subprocess.Popen(
            ["ip", "netns", "exec", netns, "unshare", "-m", "--propagation", "private", "sh",
             "-c", "mount -t tmpfs tmpfs /run && mkdir -m 0755 /run/sshd && exec /usr/sbin/sshd"
             f" -D -e -f {tmp_path / 'sshd_config'}"], stdout=log, stderr=subprocess.STDOUT)
        log.close()
        wait_until(lambda: b"Server listening" in (tmp_path / "sshd.log").read_bytes()
                   or sshd.poll() is not None, "sshd to listen")
        assert sshd.poll() is None, (tmp_path / "sshd.log").read_text()
        yield Machine(tmp_path, netns, address, sshd, bin_dir)
    finally:
        if sshd is not None:
            end(sshd)
        subprocess.run(["ip", "link", "delete", host_side], check=False,
                       stderr=subprocess.DEVNULL)


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
