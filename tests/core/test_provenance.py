"""Provenance and trust flags on real processes: a copied interpreter run from a temporary
directory whose file is then deleted (and replaced), a process renamed with prctl, Debian's
python3 and the dpkg package it came from; and the rules behind the flags."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from portwatch.core.model import Package
from portwatch.core.output import records
from portwatch.core.probe.packages import PackageIndex, recognise_bundle
from portwatch.core.probe.procinfo import sha256_file, sha256_running
from portwatch.core.probe.provenance import kernel_like, name_mismatch
from portwatch.core.probe.scanner import ListenerScanner

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="provenance is read through /proc")

DEBIAN_PYTHON = "/usr/bin/python3"
DEADLINE = 30.0

# Listens on loopback, optionally renames itself first (prctl PR_SET_NAME), says its port.
SERVER = textwrap.dedent(
    """
    import ctypes, socket, sys
    if len(sys.argv) > 1:
        libc = ctypes.CDLL(None)
        libc.prctl(15, sys.argv[1].encode(), 0, 0, 0)  # PR_SET_NAME
    s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
    print(s.getsockname()[1], flush=True)
    sys.stdin.read()
    """
)


@pytest.fixture
def serve():
    started: list[subprocess.Popen] = []

    def run(executable: str, *args: str) -> int:
        proc = subprocess.Popen([executable, "-c", SERVER, *args], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        started.append(proc)
        line = proc.stdout.readline()
        assert line.strip(), f"{executable} did not start"
        return int(line)

    yield run
    for proc in started:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)  # our own child, by its PID
        proc.wait(10)
        proc.stdin.close()
        proc.stdout.close()


def row_on(port: int):
    """The row of 127.0.0.1:port in a fresh scan (polled: the listener may still start)."""
    deadline = time.monotonic() + DEADLINE
    while True:
        scanner = ListenerScanner()
        try:
            found = [item for item in scanner.scan().listeners
                     if item.port == port and item.address == "127.0.0.1"]
        finally:
            scanner.close()
        if found:
            return found[0]
        assert time.monotonic() < deadline
        time.sleep(0.05)


needs_debian_python = pytest.mark.skipif(
    not os.path.exists(DEBIAN_PYTHON) or not os.path.exists("/var/lib/dpkg/status"),
    reason="needs Debian's /usr/bin/python3 and dpkg's database")


def _dpkg_version(package: str) -> str:
    return subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True,
                          text=True, check=True).stdout


@needs_debian_python
def test_debian_python_comes_from_its_dpkg_package_and_raises_no_flag(serve):
    port = serve(DEBIAN_PYTHON)
    row = row_on(port)
    provenance = row.process.provenance
    assert provenance.package == Package("dpkg", "python3.11-minimal",
                                         _dpkg_version("python3.11-minimal"))
    assert provenance.exe_deleted is False and provenance.flags == ()
    record = records.listener_record(row)
    assert record["package"] == {"manager": "dpkg", "name": "python3.11-minimal",
                                 "version": _dpkg_version("python3.11-minimal")}
    assert record["exe_deleted"] is False and record["flags"] == []


@needs_debian_python
def test_a_copied_interpreter_run_from_tmp_then_deleted_and_replaced(serve, tmp_path):
    folder = Path("/tmp") / f"pwtest-prov-{os.getpid()}"
    folder.mkdir()
    try:
        copy = folder / "pwtest-server"
        shutil.copy2(os.path.realpath(DEBIAN_PYTHON), copy)
        original = hashlib.sha256(copy.read_bytes()).hexdigest()
        port = serve(str(copy))
        row = row_on(port)
        assert row.process.provenance.flags == ("exe-in-temp-dir",)
        assert row.process.provenance.package is None  # no package installed that file
        copy.unlink()
        shutil.copy2(shutil.which("ls") or "/bin/ls", copy)  # another file, the same name
        row = row_on(port)
        provenance = row.process.provenance
        assert provenance.exe_deleted is True
        assert set(provenance.flags) == {"exe-deleted", "exe-in-temp-dir"}
        assert row.process.exe == str(copy)  # psutil's path, without " (deleted)"
        record = records.listener_record(row)
        assert record["exe_deleted"] is True and "exe-deleted" in record["flags"]
        # The running image is hashed, not the file that now has its name.
        running = sha256_running(row.pid, row.process.create_time, row.process.exe)
        assert running.sha256 == original
        assert sha256_file(str(copy)).sha256 != original
        assert sha256_running(row.pid, row.process.create_time + 60, row.process.exe).sha256 \
            is None  # a PID that is no longer the process shown is not hashed
    finally:
        shutil.rmtree(folder)


@pytest.mark.parametrize(("name", "flags"), [
    ("kworker/0:1", {"kernel-like-name", "name-mismatch"}),
    ("[kworker/0:1]", {"kernel-like-name", "name-mismatch"}),
    ("sshd", {"name-mismatch"}),
])
def test_a_process_renamed_with_prctl(serve, name, flags):
    port = serve(sys.executable, name)
    row = row_on(port)
    assert row.process.name == name
    assert set(row.process.provenance.flags) == flags
    assert json.loads(json.dumps(records.listener_record(row)))["flags"] == \
        list(row.process.provenance.flags)


def test_a_plain_process_has_no_flags(serve):
    port = serve(sys.executable)
    assert row_on(port).process.provenance.flags == ()


# -- the rules, on recorded names and paths ---------------------------------------------------

@pytest.mark.parametrize(("name", "exe", "cmdline", "mismatch"), [
    ("python3", "/usr/bin/python3.11", ["/usr/bin/python3", "x.py"], False),  # via a link
    ("python3", "/usr/bin/python3.11", ["python3", "x.py"], False),  # found in /usr/bin
    ("server.py", "/usr/bin/python3.11", ["/usr/bin/python3", "./server.py"], False),  # script
    ("systemd-socket-", "/usr/bin/systemd-socket-activate", ["systemd-socket-activate"], False),
    ("sshd", "/usr/bin/python3.11", ["/usr/bin/python3", "-c", "pass"], True),
    ("sshd", "/tmp/x", ["sshd"], True),  # argv[0] says sshd, the executable is /tmp/x
    ("nginx", "/usr/sbin/nginx", ["nginx: master process /usr/sbin/nginx"], False),
])
def test_name_mismatch_rules(name, exe, cmdline, mismatch):
    assert name_mismatch(name, exe, cmdline) is mismatch


def test_kernel_like_names():
    assert kernel_like("kworker/u8:2", ())
    assert kernel_like("python3", ["[kthreadd]"])
    assert not kernel_like("kworkerd-web", ["kworkerd-web"])
    assert not kernel_like("nginx", ["nginx: worker process"])


def test_bundles_recognised_from_recorded_paths():
    # Recorded from real systems (no flatpak app, snap or AppImage can run here).
    flatpak_info = "[Application]\nname=org.example.Chat\nruntime=runtime/x\n\n" \
                   "[Instance]\nbranch=stable\napp-commit=abc\n"
    assert recognise_bundle("/app/bin/chat", flatpak_info) == \
        Package("flatpak", "org.example.Chat", "stable")
    assert recognise_bundle("/snap/lxd/27428/bin/lxd") == Package("snap", "lxd", "27428")
    assert recognise_bundle("/tmp/.mount_ToolXy12ab/usr/bin/tool",
                            appimage="/home/u/Tool-1.2.AppImage") == \
        Package("appimage", "Tool-1.2.AppImage", None)
    assert recognise_bundle("/usr/bin/ls") is None


def test_package_index_reads_dpkg_lists_and_notices_an_install(tmp_path):
    info = tmp_path / "info"
    info.mkdir()
    (info / "tool.list").write_text("/.\n/usr\n/usr/bin\n/usr/bin/tool\n")
    status = tmp_path / "status"
    status.write_text("Package: tool\nStatus: install ok installed\nVersion: 1.0-1\n\n"
                      "Package: gone\nStatus: deinstall ok config-files\nVersion: 2\n")
    index = PackageIndex(str(tmp_path))
    found = index.lookup_many(["/usr/bin/tool", "/bin/tool", "/usr/bin/other"])
    assert found == {"/usr/bin/tool": Package("dpkg", "tool", "1.0-1"),
                     "/bin/tool": Package("dpkg", "tool", "1.0-1"),  # merged /usr
                     "/usr/bin/other": None}
    (info / "other:amd64.list").write_text("/usr/bin/other\n")
    status.write_text(status.read_text() + "\nPackage: other\nStatus: install ok installed\n"
                      "Version: 3\n")
    stamp = time.time_ns() + 10**9
    os.utime(info, ns=(stamp, stamp))  # as dpkg's install changes its directory
    assert index.lookup("/usr/bin/other") == Package("dpkg", "other", "3")


def test_package_answers_are_saved_and_reused_only_while_dpkg_is_unchanged(tmp_path):
    info = tmp_path / "info"
    info.mkdir()
    (info / "tool.list").write_text("/usr/bin/tool\n")
    (tmp_path / "status").write_text("Package: tool\nStatus: install ok installed\n"
                                     "Version: 1\n")
    first = PackageIndex(str(tmp_path))
    assert first.lookup("/usr/bin/tool") == Package("dpkg", "tool", "1")
    saved = json.loads(json.dumps(first.saved()))  # as the owner-map file keeps it
    (info / "tool.list").write_text("")  # a later answer must come from the file, not a pass
    later = PackageIndex(str(tmp_path))
    assert later.restore(saved)
    assert later.lookup("/usr/bin/tool") == Package("dpkg", "tool", "1")
    stamp = time.time_ns() + 10**9
    os.utime(info, ns=(stamp, stamp))  # dpkg changed: the saved answers are not believed
    again = PackageIndex(str(tmp_path))
    assert not again.restore(saved)
    assert again.lookup("/usr/bin/tool") is None
    assert not again.restore({"stamp": again.saved()["stamp"], "paths": {"/x": [1, 2, 3]}})
