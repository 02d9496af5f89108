"""The issue's table with the real servers (Debian's postgresql-15 and openssh-server, see
.ci/system-packages): the same likely software and risk on the usual port and on another one.

Each server listens on 127.0.0.1 only; the risk at a wider exposure is the same real listener
annotated at that exposure. A port that is busy here is left out of the comparison; a server
that is not installed skips."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from children import end_child

from portwatch.core.knowledge.catalog import load_catalog
from portwatch.core.model import Exposure, Risk
from portwatch.core.probe.scanner import scan_listeners

POSTGRES = Path("/usr/lib/postgresql/15/bin")
SSHD = Path("/usr/sbin/sshd")
DEADLINE = 60.0


@pytest.fixture(scope="module")
def catalog():
    return load_catalog(None)


def wait_for_listener(proc: subprocess.Popen, port: int, name: str):
    """The server's listening socket on 127.0.0.1:port, or None when the port was busy."""
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        for listener in scan_listeners().listeners:
            if (listener.port == port and listener.address == "127.0.0.1"
                    and listener.process and listener.process.name == name):
                return listener
        if proc.poll() is not None:
            return None  # it could not listen (the port is taken here)
        time.sleep(0.1)
    raise AssertionError(f"{name} did not listen on 127.0.0.1:{port}")


def stop(proc: subprocess.Popen) -> None:
    end_child(proc, 30)  # our own child, by its PID; postgres stops its workers itself


@pytest.fixture
def postgres_cluster():
    """An initdb'd data directory owned by the postgres user (removed afterwards)."""
    if not (POSTGRES / "postgres").exists() or shutil.which("runuser") is None:
        pytest.skip("PostgreSQL 15 (postgresql-15) is not installed")
    if os.geteuid() != 0:
        pytest.skip("running the real PostgreSQL as the postgres user needs root")
    base = Path(tempfile.mkdtemp(prefix="pwtest-pg-"))
    try:
        base.chmod(0o755)
        shutil.chown(base, "postgres", "postgres")
        data = base / "data"
        subprocess.run(["runuser", "-u", "postgres", "--", str(POSTGRES / "initdb"), "-D",
                        str(data), "-A", "trust", "--no-sync"], check=True,
                       capture_output=True, timeout=300)
        yield base, data
    finally:
        shutil.rmtree(base, ignore_errors=True)


def start_postgres(base: Path, data: Path, port: int) -> subprocess.Popen:
    return subprocess.Popen(
        ["runuser", "-u", "postgres", "--", str(POSTGRES / "postgres"), "-D", str(data),
         "-p", str(port), "-k", str(base), "-c", "listen_addresses=127.0.0.1"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def compare(catalog, found: dict[int, object], software: str, wide: Risk) -> None:
    ports = sorted(found)
    assert len(ports) >= 2, f"fewer than two of the ports were free here: {ports}"
    for exposure, expected in ((Exposure.LOOPBACK, Risk.NONE), (Exposure.ALL_INTERFACES, wide)):
        seen = {}
        for port, listener in found.items():
            item = catalog.annotate(dataclasses.replace(listener, exposure=exposure))
            seen[port] = ([use.software for use in item.likely_uses], item.assessment.risk,
                          item.flags)
        assert all(value == ([software], expected, ()) for value in seen.values()), seen


def test_real_postgres_on_5432_5433_and_6543(catalog, postgres_cluster):
    base, data = postgres_cluster
    found = {}
    for port in (5432, 5433, 6543):
        proc = start_postgres(base, data, port)
        try:
            listener = wait_for_listener(proc, port, "postgres")
            if listener is not None:
                found[port] = listener
                assert listener.process.exe.endswith("/bin/postgres")
        finally:
            stop(proc)
    compare(catalog, found, "PostgreSQL", Risk.MEDIUM)


def test_real_sshd_on_22_2222_and_22222(catalog, tmp_path):
    if not SSHD.exists() or shutil.which("ssh-keygen") is None:
        pytest.skip("OpenSSH's server (openssh-server) is not installed")
    if os.geteuid() != 0:
        pytest.skip("sshd refuses to start without root")
    key = tmp_path / "host_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True,
                   capture_output=True, timeout=60)
    # sshd insists on its privilege separation directory; the package's tmpfiles.d creates it
    # at boot where systemd runs. Made here if missing and left, as the package would leave
    # it: another sshd (another test's) may be using it right now.
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    found = {}
    for port in (22, 2222, 22222):
        proc = subprocess.Popen(
            [str(SSHD), "-D", "-e", "-f", "/dev/null", "-h", str(key), "-p", str(port),
             "-o", "ListenAddress=127.0.0.1", "-o", "PidFile=none"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            listener = wait_for_listener(proc, port, "sshd")
            if listener is not None:
                found[port] = listener
        finally:
            stop(proc)
    compare(catalog, found, "OpenSSH (sshd)", Risk.MEDIUM)
