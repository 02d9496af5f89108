"""systemd units of real processes: cgroups the test makes as root (the v1 `name=systemd`
hierarchy of this machine's hybrid layout, and cgroup2), a real `systemd-socket-activate`, and
socket units of a service manager read from unit files."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest
from namespaces import V1_SYSTEMD, V2_UNIFIED, move_into, root_skip_reason, unique, unit_cgroup

from portwatch.core.output.records import listener_record
from portwatch.core.probe import units
from portwatch.core.probe.origins import Origins
from portwatch.core.probe.scanner import ListenerScanner


def skip_without(root) -> None:
    reason = root_skip_reason()
    if reason:
        pytest.skip(reason)
    if not (root / "cgroup.procs").exists():
        pytest.skip(f"needs the cgroup hierarchy {root}")


def row_of(pid: int, origins: Origins | None = None):
    """The listener row of pid from a fresh scan, waiting for it (generous deadline)."""
    scanner = ListenerScanner()
    try:
        deadline = time.monotonic() + 30
        while True:
            rows = scanner.scan().listeners
            if origins is not None:
                rows = origins.annotate(rows)
            found = [row for row in rows if row.pid == pid]
            if found:
                return found[0]
            assert time.monotonic() < deadline, f"no listener of pid {pid}"
            time.sleep(0.05)
    finally:
        scanner.close()


@pytest.mark.parametrize(("root", "line"), [
    (V1_SYSTEMD, "name=systemd:/pwtest.slice/"),  # the hybrid layout's named v1 hierarchy
    (V2_UNIFIED, "0::/pwtest.slice/"),  # cgroup2
])
def test_a_service_in_its_cgroup(listener_factory, root, line):
    skip_without(root)
    name = f"{unique('svc')}.service"
    with unit_cgroup(root, f"pwtest.slice/{name}") as cgroup:
        child = listener_factory()
        move_into(cgroup, child.pid)
        with open(f"/proc/{child.pid}/cgroup") as handle:
            assert f"{line}{name}" in handle.read()
        row = row_of(child.pid)
        assert row.unit == name
        assert listener_record(row)["unit"] == name
        child.stop()


def test_a_user_managers_app_scope(listener_factory):
    skip_without(V1_SYSTEMD)
    scope = f"app-{unique('app')}.scope"
    path = f"user.slice/user-4242.slice/user@4242.service/app.slice/{scope}"
    with unit_cgroup(V1_SYSTEMD, path) as cgroup:
        child = listener_factory()
        move_into(cgroup, child.pid)
        row = row_of(child.pid)
        assert row.unit == f"user@4242.service/{scope}"
        child.stop()
    advice = units.stop_advice(units.Unit(scope, 4242))
    assert f"systemctl --user stop {scope}" in advice and "nothing to disable" in advice


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_systemd_socket_activate_in_a_unit(tmp_path):
    skip_without(V1_SYSTEMD)
    tool = "/usr/bin/systemd-socket-activate"
    if not os.path.exists(tool):
        pytest.skip("needs systemd-socket-activate (package systemd)")
    name = f"{unique('act')}.service"
    port = free_port()
    with unit_cgroup(V1_SYSTEMD, f"pwtest.slice/{name}") as cgroup:
        # Waits for the first connection before it starts the program: the socket is held by
        # systemd-socket-activate itself until then.
        proc = subprocess.Popen([tool, "-l", f"127.0.0.1:{port}", sys.executable, "-c", "pass"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            move_into(cgroup, proc.pid)
            row = row_of(proc.pid)
            assert row.port == port and row.process.name == "systemd-socket-activate"
            assert row.unit == name
            assert units.activated_command(row.process.cmdline) == (sys.executable, "-c", "pass")
        finally:
            proc.terminate()  # our own child, by its PID
            proc.wait(10)


def test_a_managers_socket_is_its_socket_unit(tmp_path, listener_factory):
    """A process named systemd in a user manager's cgroup holds the port (as the manager does
    for socket activation); the socket unit comes from the unit files (no system bus here)."""
    skip_without(V1_SYSTEMD)
    manager = tmp_path / "systemd"
    manager.symlink_to(os.path.realpath(sys.executable))
    unit_dir = tmp_path / "units"
    unit_dir.mkdir()
    socket_unit = f"{unique('sock')}.socket"
    with unit_cgroup(V1_SYSTEMD, "user.slice/user-4243.slice/user@4243.service/init.scope") \
            as cgroup:
        child = listener_factory(executable=str(manager))
        (unit_dir / socket_unit).write_text(
            f"[Socket]\nListenStream=127.0.0.1:{child.port}\nAccept=yes\n")
        move_into(cgroup, child.pid)
        row = row_of(child.pid, Origins(bus_address="unix:path=/nonexistent",
                                        unit_dirs=(str(unit_dir),)))
        assert row.process.name == "systemd"
        assert row.unit == f"user@4243.service/{socket_unit}"
        child.stop()
    base = socket_unit.removesuffix(".socket")
    assert units.service_of_socket(socket_unit, (str(unit_dir),)) == f"{base}@.service"


@pytest.mark.parametrize(("text", "expected"), [
    ("9:name=systemd:/system.slice/nginx.service\n0::/\n", units.Unit("nginx.service")),
    ("0::/system.slice/docker-0123.scope\n", units.Unit("docker-0123.scope")),
    ("0::/user.slice/user-1000.slice/user@1000.service/app.slice/snap.firefox.firefox-1.scope\n",
     units.Unit("snap.firefox.firefox-1.scope", 1000)),
    ("0::/user.slice/user-1000.slice/user@1000.service/init.scope\n",
     units.Unit("init.scope", 1000)),
    ("0::/user.slice/user-1000.slice/session-2.scope\n", units.Unit("session-2.scope")),
    ("9:name=systemd:/\n0::/\n", None),
    ("garbage", None),
])
def test_unit_of_cgroup_text(text, expected):
    assert units.unit_of_cgroup(text) == expected


@pytest.fixture
def systemd_bus(tmp_path):
    """A real dbus-daemon on a private address with the systemd stand-in
    (tests/core/systemd_standin.py: systemd is not PID 1 here, so no real systemd1 answers)."""
    import shutil

    if shutil.which("dbus-daemon") is None:
        pytest.skip("needs dbus-daemon (package dbus)")
    address = f"unix:path={tmp_path / 'bus'}"
    daemon = subprocess.Popen(["dbus-daemon", "--config-file=/usr/share/dbus-1/session.conf",
                               f"--address={address}", "--nofork", "--print-address"],
                              stdout=subprocess.PIPE, text=True)
    started: list[subprocess.Popen] = [daemon]
    try:
        daemon.stdout.readline()  # the address: it listens

        def serve(unit: str, listen: str) -> None:
            standin = subprocess.Popen(
                [sys.executable, os.path.join(os.path.dirname(__file__), "systemd_standin.py"),
                 address, unit, listen], stdout=subprocess.PIPE, text=True)
            started.append(standin)
            assert standin.stdout.readline().strip() == "ready"

        yield address, serve
    finally:
        for proc in reversed(started):
            proc.terminate()  # our own children, by PID
            proc.wait(10)
            proc.stdout.close()


def test_socket_units_from_systemds_dbus_api(systemd_bus, tmp_path, listener_factory):
    address, serve = systemd_bus
    skip_without(V1_SYSTEMD)
    manager = tmp_path / "systemd"
    manager.symlink_to(os.path.realpath(sys.executable))
    socket_unit = f"{unique('bus')}.socket"
    with unit_cgroup(V1_SYSTEMD, "user.slice/user-4244.slice/user@4244.service") as cgroup:
        child = listener_factory(executable=str(manager))
        serve(socket_unit, f"127.0.0.1:{child.port}")
        assert units.socket_units_from_bus(address) == {("tcp", child.port): socket_unit}
        move_into(cgroup, child.pid)
        empty = tmp_path / "no-unit-files"
        empty.mkdir()
        row = row_of(child.pid, Origins(bus_address=address, unit_dirs=(str(empty),)))
        assert row.unit == f"user@4244.service/{socket_unit}"
        child.stop()


def test_no_bus_means_unit_files(tmp_path):
    assert units.socket_units_from_bus(f"unix:path={tmp_path / 'absent'}") is None


def test_socket_unit_files_name_their_ports(tmp_path):
    (tmp_path / "pwtest-a.socket").write_text(
        "[Socket]\nListenStream=[::]:2222\nListenDatagram=0.0.0.0:5353\n"
        "ListenStream=/run/pwtest.sock\nListenStream=@abstract\n")
    (tmp_path / "pwtest-b.socket").write_text("[Socket]\nListenStream=8181\n")
    (tmp_path / "pwtest-c.service").write_text("[Service]\nListenStream=9999\n")  # not a socket
    assert units.socket_units_from_files((str(tmp_path),)) == {
        ("tcp", 2222): "pwtest-a.socket", ("udp", 5353): "pwtest-a.socket",
        ("tcp", 8181): "pwtest-b.socket"}
