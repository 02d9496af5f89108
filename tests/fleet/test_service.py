"""The systemd units for `portwatch watch`: `install.sh --service` writes them, the real
`systemd-analyze verify` accepts both, `systemd-analyze security` rates the system unit's
exposure at most 3.0 ("OK"), and the two capabilities the unit keeps are exactly what the scan
needs: with both, root sees who owns another user's socket; without either, it cannot.

systemd is not PID 1 here, so the units are checked offline and the capabilities are tried
with `setpriv --bounding-set`, which is what CapabilityBoundingSet= does to the service."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fleet import REPO, portwatch_env

from portwatch.core.probe.hidden import HIDDEN_NEEDS_PRIVILEGES

INSTALL = REPO / "packaging" / "linux" / "install.sh"
EXPOSURE_LIMIT = 30  # systemd-analyze's --threshold: 10 × the exposure level (3.0 = "OK")


def analyze() -> str:
    path = shutil.which("systemd-analyze")
    if path is None:
        pytest.skip("needs systemd-analyze (package systemd, see .ci/system-packages)")
    return path


def install(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(INSTALL), "--service", *args], capture_output=True,
                          text=True, timeout=60, check=False,
                          env={**os.environ, "DESTDIR": str(tmp_path / "stage"), **env})


def program() -> str:
    """An absolute portwatch to put in ExecStart (verify checks that it exists)."""
    return str(Path(sys.executable).with_name("portwatch"))


def test_system_unit_verifies_and_is_hardened(tmp_path):
    tool = analyze()
    done = install(tmp_path, "--service=system", "--exec", program(),
                   "--textfile", "/var/lib/prometheus/node-exporter")
    assert done.returncode == 0, done.stderr
    unit = tmp_path / "stage" / "etc" / "systemd" / "system" / "portwatch.service"
    text = unit.read_text()
    assert f"ExecStart={program()} watch --journal --textfile /var/lib/prometheus/node-exporter" \
        in text
    assert "ReadWritePaths=/var/lib/prometheus/node-exporter" in text
    for line in ("ProtectSystem=strict", "NoNewPrivileges=yes",
                 "CapabilityBoundingSet=CAP_DAC_READ_SEARCH CAP_SYS_PTRACE"):
        assert line in text.splitlines()
    assert not any(mark in text for mark in ("@EXEC@", "@ARGS@", "@READWRITE@"))
    verify = subprocess.run([tool, "verify", str(unit)], capture_output=True, text=True,
                            timeout=120, check=False)
    assert verify.returncode == 0 and verify.stderr.strip() == "", verify.stderr
    security = subprocess.run([tool, "security", "--offline=yes",
                               f"--threshold={EXPOSURE_LIMIT}", str(unit)],
                              capture_output=True, text=True, timeout=120, check=False)
    assert security.returncode == 0, security.stdout[-2000:] + security.stderr
    assert "Overall exposure level for portwatch.service" in security.stdout
    assert "✓ CapabilityBoundingSet=~CAP_SYS_ADMIN" in security.stdout
    removed = install(tmp_path, "--service=system", "--uninstall")
    assert removed.returncode == 0 and not unit.exists()


def test_user_unit_verifies(tmp_path):
    tool = analyze()
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    done = install(tmp_path, "--service=user", "--exec", program(),
                   XDG_CONFIG_HOME="/config")
    assert done.returncode == 0, done.stderr
    unit = tmp_path / "stage" / "config" / "systemd" / "user" / "portwatch.service"
    assert f"ExecStart={program()} watch --journal " in unit.read_text()
    verify = subprocess.run([tool, "verify", "--user", str(unit)], capture_output=True,
                            text=True, timeout=120, check=False,
                            env={**os.environ, "XDG_RUNTIME_DIR": str(runtime)})
    assert verify.returncode == 0 and verify.stderr.strip() == "", verify.stderr


def test_unplain_paths_are_refused_clearly(tmp_path):
    done = install(tmp_path, "--exec", "/opt/port watch/bin/portwatch")
    assert done.returncode == 2 and "paths must be plain" in done.stderr
    done = install(tmp_path, "--exec", "portwatch")
    assert done.returncode == 2 and "absolute path" in done.stderr
    assert not (tmp_path / "stage").exists()


def owner_seen(caps: str, port: int) -> dict:
    """The `list --json` row of `port` from a scan run with only `caps` in its bounding set."""
    done = subprocess.run(["setpriv", f"--bounding-set=-all{caps}", sys.executable, "-m",
                           "portwatch", "list", "--json"], capture_output=True, text=True,
                          timeout=120, check=False, env=portwatch_env())
    assert done.returncode == 0, done.stderr
    (row,) = [item for item in json.loads(done.stdout) if item["port"] == port]
    return row


def test_the_scan_needs_exactly_the_two_capabilities_the_unit_keeps(tmp_path):
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv (util-linux)")
    try:
        pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("needs the user nobody")
    if not os.access("/usr/bin/python3", os.X_OK):
        pytest.skip("needs Debian's /usr/bin/python3 to run a listener as nobody")
    listener = subprocess.Popen(
        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "/usr/bin/python3",
         "-c", "import socket,sys\ns=socket.socket()\ns.bind(('127.0.0.1',0))\ns.listen()\n"
         "print(s.getsockname()[1],flush=True)\nsys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        port = int(listener.stdout.readline())
        full = owner_seen(",+dac_read_search,+sys_ptrace", port)
        assert (full["pid"], full["user"]) == (listener.pid, "nobody")
        for only in (",+dac_read_search", ",+sys_ptrace"):
            row = owner_seen(only, port)
            assert row["pid"] is None, f"seen with only {only}"
            # and it says why, instead of guessing that the kernel owns the socket
            assert row["hidden_reason"] == HIDDEN_NEEDS_PRIVILEGES, row["hidden_reason"]
    finally:
        listener.kill()
        listener.wait(10)
        listener.stdin.close()
        listener.stdout.close()
