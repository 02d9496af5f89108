"""An unprivileged run: as `nobody`, through both scanner paths (netlink with the owner map,
and the psutil fallback) and through `portwatch list` and `list --json`, root's listeners are
rows with owner_hidden and the explanation (never errors), nobody's own listener has its
owner, and the exit status is 0.

Runs Debian's /usr/bin/python3 (with python3-psutil) on a copy of the package nobody can read
(see conftest.nobody_copy); skipped with the reason where that is not possible.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import textwrap
from pathlib import Path

import pytest
from nobody import nobody_skip_reason, run_as_nobody
from rel_common import tally

from portwatch.core.probe.hidden import HIDDEN_NEEDS_PRIVILEGES

pytestmark = pytest.mark.skipif(nobody_skip_reason() is not None,
                                reason=str(nobody_skip_reason()))

BOTH_PATHS = textwrap.dedent(
    """
    import json, socket, sys
    from portwatch.core.probe.scanner import ListenerScanner
    own = socket.socket()
    own.bind(("127.0.0.1", 0))
    own.listen()
    out = {"own": own.getsockname()[1]}
    for name, fast in (("netlink", True), ("psutil", False)):
        scanner = ListenerScanner(fast=fast)
        try:
            scanner.scan()
            snap = scanner.scan()  # the second scan: from the fast path's kept map
        finally:
            scanner.close()
        out[name] = {
            "backend": scanner.backend,
            "fallback_reason": scanner.fallback_reason,
            "problems": list(snap.problems),
            "rows": [[l.proto.value, l.address, l.port, l.pid, l.owner_hidden,
                      l.hidden_reason] for l in snap.listeners],
        }
    print(json.dumps(out))
    """
)


@pytest.fixture
def nobody_dirs():
    """Config and data directories nobody may write (pytest's tmp is root's only)."""
    import os
    import pwd

    nobody = pwd.getpwnam("nobody")
    base = Path(tempfile.mkdtemp(prefix="portwatch-nobody-home-"))
    base.chmod(0o755)
    for name in ("config", "data"):
        (base / name).mkdir()
        os.chown(base / name, nobody.pw_uid, nobody.pw_gid)
    yield base
    shutil.rmtree(base, ignore_errors=True)


def ours(rows, roots):
    """Rows of root's test listeners (proto, 127.0.0.1, port)."""
    wanted = {(child.proto, child.port) for child in roots}
    return [row for row in rows if (row[0], row[2]) in wanted and row[1] == "127.0.0.1"]


def test_both_scanner_paths_as_nobody_hide_roots_owners_with_the_reason(
        listener_factory, nobody_copy):
    roots = [listener_factory("tcp"), listener_factory("udp")]
    result = run_as_nobody(nobody_copy, ["-c", BOTH_PATHS])
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    out = json.loads(result.stdout)
    assert out["netlink"]["backend"] == "netlink", out["netlink"]["fallback_reason"]
    assert out["psutil"]["backend"] == "psutil"
    for path in ("netlink", "psutil"):
        scan = out[path]
        assert scan["problems"] == []  # hidden owners are rows, not problems
        hidden = ours(scan["rows"], roots)
        assert len(hidden) == 2, (path, hidden)
        for _proto, _address, _port, pid, owner_hidden, reason in hidden:
            assert pid is None and owner_hidden is True
            assert reason == HIDDEN_NEEDS_PRIVILEGES
        own = [row for row in scan["rows"] if row[0] == "tcp" and row[2] == out["own"]
               and row[1] == "127.0.0.1"]
        assert len(own) == 1 and own[0][3] is not None and own[0][4] is False
        tally("unprivileged scans")


def test_portwatch_list_json_as_nobody(listener_factory, nobody_copy, nobody_dirs):
    roots = [listener_factory("tcp"), listener_factory("udp")]
    env = {"PORTWATCH_CONFIG_DIR": str(nobody_dirs / "config"),
           "PORTWATCH_DATA_DIR": str(nobody_dirs / "data")}
    result = run_as_nobody(nobody_copy, ["-m", "portwatch", "list", "--json"], env=env)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "error" not in result.stderr.lower()
    records = json.loads(result.stdout)
    rows = [[r["proto"], r["address"], r["port"], r["pid"], r["owner_hidden"],
             r["hidden_reason"]] for r in records]
    hidden = ours(rows, roots)
    assert len(hidden) == 2
    for record in records:
        if (record["proto"], record["port"]) in {(c.proto, c.port) for c in roots} \
                and record["address"] == "127.0.0.1":
            assert record["owner_hidden"] is True and record["pid"] is None
            # The socket's user comes from the kernel (sock_diag), hidden owner or not.
            assert record["process"] is None and record["user"] == "root"
            assert record["holders"] == [] and record["flags"] == []
            assert record["package"] is None and record["exe_deleted"] is None
            assert record["hidden_reason"] == HIDDEN_NEEDS_PRIVILEGES
            assert record["risk"] is not None  # still judged: port and exposure are known
    tally("unprivileged scans")


@pytest.fixture
def daemon_listener():
    """A loopback listener of the system user `daemon` (started with runuser, ended by closing
    its stdin and by the PID of the runuser we started)."""
    import subprocess

    script = ("import socket, sys; s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen();"
              " print(s.getsockname()[1], flush=True); sys.stdin.read()")
    proc = subprocess.Popen(["runuser", "-u", "daemon", "--", "/usr/bin/python3", "-c", script],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    port = int(proc.stdout.readline())
    yield port
    proc.stdin.close()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.terminate()
        proc.wait(10)
    proc.stdout.close()


def test_a_hidden_owner_still_has_the_sockets_user_as_nobody(daemon_listener, nobody_copy,
                                                             nobody_dirs):
    """As an unprivileged user, another user's listener has no visible process, but its user:
    "daemon" in `list` and `list --json`."""
    env = {"PORTWATCH_CONFIG_DIR": str(nobody_dirs / "config"),
           "PORTWATCH_DATA_DIR": str(nobody_dirs / "data")}
    result = run_as_nobody(nobody_copy, ["-m", "portwatch", "list", "--json"], env=env)
    assert result.returncode == 0, result.stderr
    (record,) = [r for r in json.loads(result.stdout)
                 if r["port"] == daemon_listener and r["address"] == "127.0.0.1"]
    assert record["owner_hidden"] is True and record["pid"] is None
    assert record["user"] == "daemon"
    table = run_as_nobody(nobody_copy, ["-m", "portwatch", "list"], env=env)
    (line,) = [line for line in table.stdout.splitlines()
               if line.split()[:3] == ["tcp", "127.0.0.1", str(daemon_listener)]]
    assert "(hidden)" in line and "daemon" in line.split()
    tally("unprivileged scans")


def test_portwatch_list_as_nobody_explains_the_hidden_owners(listener_factory, nobody_copy,
                                                             nobody_dirs):
    child = listener_factory("tcp")
    env = {"PORTWATCH_CONFIG_DIR": str(nobody_dirs / "config"),
           "PORTWATCH_DATA_DIR": str(nobody_dirs / "data")}
    result = run_as_nobody(nobody_copy, ["-m", "portwatch", "list"], env=env)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stdout.splitlines()
             if line.split()[:3] == ["tcp", "127.0.0.1", str(child.port)]]
    assert len(lines) == 1 and "(hidden)" in lines[0]
    assert "owner(s) hidden: " + HIDDEN_NEEDS_PRIVILEGES in result.stdout
    tally("unprivileged scans")
