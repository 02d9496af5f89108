"""Shared fixtures: every test gets its own config and data directories (never the real home),
and helpers that start real listener processes on loopback and end them by PID."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from children import end_child

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path, monkeypatch):
    """PORTWATCH_CONFIG_DIR and PORTWATCH_DATA_DIR point into the test's temp dir."""
    config = tmp_path / "config"
    data = tmp_path / "data"
    config.mkdir()
    data.mkdir()
    monkeypatch.setenv("PORTWATCH_CONFIG_DIR", str(config))
    monkeypatch.setenv("PORTWATCH_DATA_DIR", str(data))
    # Anything that asks XDG (autostart entries, Qt's own settings) stays in the temp dir too.
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    return config, data


LISTENER_SCRIPT = textwrap.dedent(
    """
    import socket, sys
    proto, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    s = socket.socket(family, kind)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port))
    if proto == "tcp":
        s.listen()
    print(s.getsockname()[1], flush=True)
    sys.stdin.read()  # stay until the test closes our stdin or ends us by PID
    """
)


@dataclass
class ChildListener:
    proc: subprocess.Popen
    port: int
    proto: str
    host: str

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        end_child(self.proc, 5)  # our own child, by its PID
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream:
                stream.close()


def start_listener(proto: str = "tcp", host: str = "127.0.0.1", port: int = 0,
                   executable: str | None = None, prefix: tuple[str, ...] = ()) -> ChildListener:
    """Start a separate process listening on host:port (loopback only) and wait until it is.
    `prefix` runs it through a command that execs it in a network namespace the test made
    (`ip netns exec pwtest-…`, `unshare --net`): there any address is private to the test."""
    assert prefix or host in ("127.0.0.1", "::1") or host.startswith("127."), \
        "tests listen on loopback only"
    proc = subprocess.Popen(
        [*prefix, executable or sys.executable, "-c", LISTENER_SCRIPT, proto, host, str(port)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    child = ChildListener(proc, 0, proto, host)
    line = proc.stdout.readline()
    if not line.strip():
        err = proc.stderr.read()
        child.stop()  # its pipes too: a failed start must not leak them into the next test
        raise OSError(f"listener child failed: {err.strip()}")
    child.port = int(line)
    return child


@pytest.fixture(scope="session")
def nobody_copy() -> Iterator:
    """A copy of the package that the user nobody can run (see tests/nobody.py); skips with the
    reason where running as nobody is not possible."""
    from nobody import nobody_package, nobody_skip_reason

    reason = nobody_skip_reason()
    if reason:
        pytest.skip(reason)
    with nobody_package() as code:
        yield code


@pytest.fixture
def listener_factory() -> Iterator:
    started: list[ChildListener] = []

    def factory(*args, **kwargs) -> ChildListener:
        child = start_listener(*args, **kwargs)
        started.append(child)
        return child

    yield factory
    for child in started:
        child.stop()


# --------------------------------------------------------------------------- deadlines

# pytest-qt waits 5 s by default and many tests pass shorter deadlines. A deadline only bounds a
# failure (a condition that holds returns at once), and on a loaded 2-core machine a poll of the
# worker thread can take many times its quiet-machine time, so no wait is shorter than this.
MIN_QT_WAIT_MS = 30_000


@pytest.fixture(autouse=True)
def _generous_qt_deadlines(request, monkeypatch):
    if "qtbot" not in request.fixturenames:
        return
    from pytestqt.qtbot import QtBot

    def floor(method):
        def waiting(self, *args, timeout=5000, **kwargs):
            # 0 is not a deadline: it means "do not wait" (assertNotEmitted's default wait)
            if timeout is not None and 0 < timeout < MIN_QT_WAIT_MS:
                timeout = MIN_QT_WAIT_MS
            return method(self, *args, timeout=timeout, **kwargs)
        return waiting

    for name in ("waitUntil", "waitSignal", "waitSignals", "waitCallback"):
        monkeypatch.setattr(QtBot, name, floor(getattr(QtBot, name)))
