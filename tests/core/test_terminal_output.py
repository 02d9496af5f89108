"""The terminal commands as a person meets them: output that fits an 80-column terminal (a real
pseudo-terminal the test opens), full width into a pipe, addresses in numeric order, names in
`lookup`, each command's own usage on a usage error, and a --help that needs no README."""

from __future__ import annotations

import fcntl
import json
import os
import struct
import subprocess
import sys
import termios

import psutil
import pytest
from namespaces import named_netns, root_skip_reason

from portwatch.commands.termwidth import fit_widths, table_lines
from portwatch.commands.watch import human_line
from portwatch.core.model import (
    AnnotatedListener,
    Assessment,
    CatalogEntry,
    Exposure,
    Family,
    Listener,
    ProcessInfo,
    Proto,
    Risk,
)
from portwatch.core.probe.exposure import address_key

LONG_NAME = "pwtest-a-process-with-a-rather-long-name-indeed"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env.update(extra)
    return env


def portwatch(*args: str, prefix: tuple[str, ...] = (), **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([*prefix, sys.executable, "-m", "portwatch", *args],
                          capture_output=True, text=True, timeout=120, env=_env(**env))


def portwatch_in_terminal(*args: str, columns: int = 80, prefix: tuple[str, ...] = (),
                          **env: str) -> str:
    """What portwatch prints on a real pseudo-terminal `columns` wide (no $COLUMNS unless
    given in `env`); `prefix` runs it through a command such as `ip netns exec NAME`."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    attrs = termios.tcgetattr(slave)
    attrs[1] &= ~termios.ONLCR  # keep "\n" as is (no "\r\n")
    termios.tcsetattr(slave, termios.TCSANOW, attrs)
    with subprocess.Popen([*prefix, sys.executable, "-m", "portwatch", *args],
                          stdin=subprocess.DEVNULL,
                          stdout=slave, stderr=subprocess.PIPE, env=_env(**env)) as proc:
        os.close(slave)
        chunks = []
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the terminal's last writer closed it
                break
            if not chunk:
                break
            chunks.append(chunk)
        os.close(master)
        stderr = proc.stderr.read()
        assert proc.wait(timeout=120) == 0, stderr
    return b"".join(chunks).decode()


@pytest.fixture
def alone_long_named(listener_factory, tmp_path):
    """A listener of a process with a long name, alone in a network namespace of its own, and
    the prefix that runs portwatch there: its table holds that row only, so other programs'
    listeners (a long IPv6 address, a wide CONNS cell, which are never cut) cannot widen the
    columns the test asserts on."""
    if root_skip_reason("ip"):
        pytest.skip(root_skip_reason("ip"))
    named = tmp_path / LONG_NAME
    os.symlink(os.path.realpath(sys.executable), named)
    with named_netns("term") as name:
        inside = ("ip", "netns", "exec", name)
        child = listener_factory("tcp", "0.0.0.0", 0, executable=str(named), prefix=inside)
        if psutil.Process(child.pid).name() != LONG_NAME:
            pytest.skip("this system does not name a process after the file it was started from")
        yield child, inside
        child.stop()


def test_list_fits_an_80_column_terminal_cutting_the_long_name(alone_long_named):
    child, inside = alone_long_named
    lines = portwatch_in_terminal("list", prefix=inside).splitlines()
    assert lines[0].split()[:3] == ["PROTO", "ADDRESS", "PORT"]
    (mine,) = lines[1:]  # its own row, and only that
    assert all(len(line) <= 80 for line in lines), max(lines, key=len)
    assert f" {child.pid} " in mine
    assert "pwtes" in mine and LONG_NAME not in mine and "…" in mine  # at least 5 + …
    assert f" 0.0.0.0 {child.port} " in mine  # addresses and numbers are never cut


def test_numbers_and_addresses_are_never_cut_even_when_they_alone_do_not_fit():
    """A cut address, port or PID would be a wrong one: when the uncut columns alone are wider
    than the terminal, the lines are as wide as they need, the text columns at their least."""
    address = "fe80::1234:5678:9abc:def0%pwtest-veth0"
    header = ("PROTO", "ADDRESS", "PORT", "PID", "PROCESS", "CONNS")
    row = ("tcp", address, "65535", "4194303", "p" * 30, "1200 (340 remote)")
    lines = list(table_lines(header, [row], 60, right=(2, 3), elidable=(4,)))
    assert lines[1].split(maxsplit=5) == ["tcp", address, "65535", "4194303", "p" * 5 + "…",
                                          "1200 (340 remote)"]
    assert lines[1] == " ".join((f"{'tcp':5}", address, "65535", "4194303", "ppppp…",
                                 "1200 (340 remote)"))  # each column at its least, 1 apart


def test_list_into_a_pipe_is_full_width_unless_asked(alone_long_named):
    child, inside = alone_long_named
    piped = portwatch("list", prefix=inside)
    assert piped.returncode == 0, piped.stderr
    (mine,) = piped.stdout.splitlines()[1:]
    assert f" {child.pid} " in mine and LONG_NAME in mine
    assert LONG_NAME in portwatch("list", prefix=inside, COLUMNS="80").stdout
    asked = portwatch("list", "--width", "80", prefix=inside)
    assert asked.returncode == 0, asked.stderr
    assert all(len(line) <= 80 for line in asked.stdout.splitlines())
    assert LONG_NAME not in asked.stdout and f" {child.pid} " in asked.stdout


def test_columns_sets_the_width_on_a_terminal_and_wide_lifts_it(alone_long_named):
    child, inside = alone_long_named
    narrow = portwatch_in_terminal("list", columns=200, prefix=inside, COLUMNS="80")
    assert all(len(line) <= 80 for line in narrow.splitlines())
    assert LONG_NAME not in narrow and f" {child.pid} " in narrow
    wide = portwatch_in_terminal("list", "--wide", columns=80, prefix=inside)
    assert LONG_NAME in wide


def test_the_widest_text_column_is_cut_first():
    header = ("PORT", "PROCESS", "SERVICE")
    rows = [("22", "p" * 30, "s" * 12)]
    lines = list(table_lines(header, rows, 40, right=(0,), elidable=(1, 2)))
    assert all(len(line) <= 40 for line in lines)
    assert lines[1].split() == ["22", "p" * 19 + "…", "s" * 12]  # only the widest lost
    # Both cut when cutting one is not enough, down to an equal width, never below a minimum
    assert fit_widths([4, 30, 12], (1, 2), [4, 7, 7], 24) == [4, 8, 8]
    assert fit_widths([4, 30, 12], (1, 2), [4, 7, 7], 10) == [4, 7, 7]
    assert fit_widths([4, 30, 12], (1, 2), [4, 7, 7], None) == [4, 30, 12]


def test_watch_lines_fit_the_width_and_keep_the_pid():
    sock = Listener(Proto.TCP, Family.IPV4, "127.0.0.1", 8000, Exposure.LOOPBACK,
                    ProcessInfo(4242, LONG_NAME))
    row = AnnotatedListener(sock, CatalogEntry(8000, Proto.TCP, "http-alt-with-long-name"),
                            Assessment(Risk.LOW, "x"))
    full = human_line("opened", 1795460645.0, row)
    assert LONG_NAME in full and len(full) > 80
    for width, service_kept in ((110, True), (100, True), (80, False)):
        cut = human_line("opened", 1795460645.0, row, width=width)
        assert len(cut) <= width, cut
        assert "(pid 4242)" in cut and "127.0.0.1:8000" in cut and cut.endswith("risk low")
        assert "pwt" in cut and LONG_NAME not in cut
        assert ("http-" in cut) is service_kept
    assert cut.startswith("19:04:05Z  opened")  # the date went first


def test_addresses_sort_numerically(listener_factory):
    assert sorted(["127.0.2.20", "127.0.2.3", "::1", "10.0.0.1"], key=address_key) == [
        "10.0.0.1", "127.0.2.3", "127.0.2.20", "::1"]
    # The one key (the table sorts by it too): zone ids, IPv4-mapped and text that is no
    # address; a string, which Qt compares natively.
    mixed = ["not an address", "fe80::1%eth1", "::ffff:10.0.0.1", "fe80::1%eth0", "9.9.9.9"]
    assert sorted(mixed, key=address_key) == [
        "9.9.9.9", "::ffff:10.0.0.1", "fe80::1%eth0", "fe80::1%eth1", "not an address"]
    assert all(isinstance(address_key(address), str) for address in mixed)
    first = listener_factory("tcp", "127.0.2.20", 0)
    second = listener_factory("tcp", "127.0.2.3", first.port)  # the same port, both listen
    result = portwatch("list")
    assert result.returncode == 0, result.stderr
    mine = [line.split()[1] for line in result.stdout.splitlines()
            if line.split()[2:3] == [str(first.port)] and line.split()[0] == "tcp"
            and (f" {first.pid} " in line or f" {second.pid} " in line)]  # not a namesake
    assert mine == ["127.0.2.3", "127.0.2.20"], (first.pid, second.pid)


@pytest.mark.parametrize(("name", "port"), [("redis", 6379), ("devpi", 3141), ("ssh", 22)])
def test_lookup_accepts_service_and_software_names(name, port):
    result = portwatch("lookup", name, "--json")
    assert result.returncode == 0, result.stderr
    assert port in {entry["port"] for entry in json.loads(result.stdout)}
    text = portwatch("lookup", name)
    assert text.returncode == 0 and f"{port}/tcp" in text.stdout.splitlines()[0]


def test_lookup_of_an_unknown_name_says_so():
    result = portwatch("lookup", "pwtest-no-such-software")
    assert result.returncode == 1
    assert "no port is known by the name 'pwtest-no-such-software'" in result.stderr


@pytest.mark.parametrize("command", ["list", "lookup", "watch", "history"])
def test_a_usage_error_prints_that_commands_usage(command):
    args = [command, "--pwtest-bogus"] + (["22"] if command == "lookup" else [])
    result = portwatch(*args)
    assert result.returncode == 2
    assert f"usage: portwatch {command} " in result.stderr
    assert "unrecognized arguments: --pwtest-bogus" in result.stderr


def test_help_is_complete_without_the_readme():
    top = portwatch("--help").stdout
    assert "README" not in top
    for words in ("Exit status", "PORTWATCH_CONFIG_DIR", "--wide", "opens the window"):
        assert words in top
    for command in ("list", "lookup", "watch", "history"):
        text = portwatch(command, "--help").stdout
        assert "README" not in text
    assert "risk_reason" in portwatch("list", "--help").stdout
    assert "redis" in portwatch("lookup", "--help").stdout
