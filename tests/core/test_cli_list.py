"""`portwatch list` run as a real program, against a listener opened by another program."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import psutil
import pytest

from portwatch import __version__


def portwatch(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "portwatch", *args],
                          capture_output=True, text=True, timeout=timeout)


def test_list_json_shows_another_programs_listener(listener_factory):
    try:
        child = listener_factory("tcp", "127.0.0.1", 3141)
    except OSError:
        child = listener_factory("tcp", "127.0.0.1", 0)  # 3141 busy here: any port proves it
    result = portwatch("list", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    (row,) = [r for r in rows if r["port"] == child.port and r["proto"] == "tcp"]
    assert row["pid"] == child.pid
    assert row["process"] == psutil.Process(child.pid).name()
    assert row["address"] == "127.0.0.1"
    assert row["exposure"] == "loopback"
    assert row["family"] == "ipv4"
    assert row["owner_hidden"] is False
    expected_keys = {"proto", "family", "address", "port", "exposure", "pid", "process", "user",
                     "exe", "cmdline", "owner_hidden", "service", "description", "uses",
                     "likely_software", "security", "risk", "risk_reason"}
    assert expected_keys <= set(row)
    assert all(isinstance(note["applies"], bool) for note in row["security"])


def test_devpi_on_loopback_3141_is_recognised_and_not_a_risk(listener_factory, tmp_path):
    """A program named devpi-server (a symlink to the real interpreter) listening on
    127.0.0.1:3141 is devpi: the MyDoom range and Finjan's CVE are context, risk none."""
    named = tmp_path / "devpi-server"
    os.symlink(os.path.realpath(sys.executable), named)
    try:
        child = listener_factory("tcp", "127.0.0.1", 3141, executable=str(named))
    except OSError as exc:
        pytest.skip(f"127.0.0.1:3141 is not free here, so devpi cannot be imitated ({exc})")
    if psutil.Process(child.pid).name() != "devpi-server":
        pytest.skip("this system does not name a process after the symlink it was started by")
    result = portwatch("list", "--json")
    assert result.returncode == 0, result.stderr
    (row,) = [r for r in json.loads(result.stdout) if r["pid"] == child.pid]
    assert (row["port"], row["process"]) == (3141, "devpi-server")
    assert row["likely_software"] == ["devpi-server"]
    assert row["risk"] == "none"
    assert row["risk_reason"] == "devpi-server, the usual software on this port"
    titles = {note["title"]: note["applies"] for note in row["security"]}
    assert any("MyDoom" in title for title in titles)
    assert any("Finjan" in title for title in titles)
    assert not any(titles.values())  # shown as context, none counts
    table = portwatch("list").stdout.splitlines()
    assert table[0].split()[-3:] == ["SOFTWARE", "RISK", "CONNS"]
    (line,) = [line for line in table if f" {child.pid} " in line]
    assert line.split()[-3:] == ["devpi-server", "none", "0"]


def test_list_human_output_is_aligned(listener_factory):
    child = listener_factory("udp")
    result = portwatch("list")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:4] == ["PROTO", "ADDRESS", "PORT", "EXPOSURE"]
    mine = [line for line in lines if f" {child.port} " in line and line.startswith("udp")]
    assert len(mine) == 1
    assert str(child.pid) in mine[0] and "loopback only" in mine[0]
    # PORT is right-aligned: each row's port column ends where the header's does
    end = lines[0].index("PORT") + len("PORT")
    assert mine[0][:end].endswith(str(child.port))


def test_version():
    result = portwatch("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"portwatch {__version__}"


@pytest.mark.parametrize("args", [["frobnicate"], ["list", "--bogus"]])
def test_usage_errors_exit_2_with_a_message(args):
    result = portwatch(*args)
    assert result.returncode == 2
    assert "portwatch: error:" in result.stderr
    assert "Traceback" not in result.stderr
