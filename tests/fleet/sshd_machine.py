"""A second "machine" for the remote-host tests: a real sshd in a network namespace the test
makes, reached over a veth pair, with key authentication (keys, host key and known_hosts made
by the test; no password anywhere). The remote portwatch is this checkout, put on the session's
PATH by sshd's SetEnv; removing it from there is the "not installed" case. sshd runs in a
private mount namespace with a tmpfs on /run (its privilege-separation folder), so nothing is
left on this machine. The `machine` fixture is registered by this folder's conftest.py;
`pwtest-nobody-home` in its ssh_config is a host where nothing answers (port 9), and
`pwtest-wrong-key` the same sshd with a key it does not accept (a login that fails)."""

from __future__ import annotations

import random
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
        keygen(tmp_path / "stranger_key")  # not in authorized_keys
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
            Host pwtest-wrong-key
              HostName {address}
              User root
              IdentityFile {tmp_path / 'stranger_key'}
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
