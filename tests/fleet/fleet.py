"""Helpers for the "many machines" tests (a module of its own name: `from conftest import`
would find another folder's conftest when several folders run together)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from children import end_child

DEADLINE = 30.0  # seconds any condition may take on a loaded 2-core machine
REPO = Path(__file__).resolve().parents[2]


def wait_until(condition: Callable[[], object], what: str, timeout: float = DEADLINE) -> object:
    """Poll `condition` until it returns something true; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.1)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (the daemon binds it right after)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Daemon:
    """A program the test started; its output goes to a log file; stopped by its PID."""

    def __init__(self, argv: list[str], log: Path, **popen) -> None:
        self.argv = argv
        self.log_path = log
        self._log = log.open("wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, **popen)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        end_child(self.proc)
        self._log.close()


def need_root_and(*programs: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (network namespaces, mounts)")
    missing = [name for name in programs if shutil.which(name) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (see .ci/system-packages)")


def real_interpreter() -> str:
    return os.path.realpath(sys.executable)


def named_interpreter(folder: Path, name: str) -> str:
    """A symlink called `name` to the real interpreter: a process started through it is
    called `name` (the catalog knows programs by name)."""
    link = folder / name
    if not link.exists():
        link.symlink_to(real_interpreter())
    return str(link)


def portwatch_env(**extra: str) -> dict[str, str]:
    """The test's environment (its own config and data folders) for a portwatch child."""
    return {**os.environ, "PYTHONPATH": str(REPO), **extra}


def annotated(name: str | None = "dockerd", port: int = 2375, risk=None, *,
              address: str = "0.0.0.0", pid: int = 4242, user: str | None = "root",
              cmdline: tuple[str, ...] = ()):
    """An annotated TCP listener for unit tests: exposure from the address, `risk` (a Risk or
    None for no assessment), `name` None for a hidden owner."""
    from portwatch.core.model import (
        AnnotatedListener,
        Assessment,
        Exposure,
        Family,
        Listener,
        ProcessInfo,
        Proto,
    )

    exposure = {"0.0.0.0": Exposure.ALL_INTERFACES, "127.0.0.1": Exposure.LOOPBACK}.get(
        address, Exposure.LOCAL_NETWORK)
    process = ProcessInfo(pid, name, user, None, cmdline) if name is not None else None
    sock = Listener(Proto.TCP, Family.IPV4, address, port, exposure, process,
                    owner_hidden=process is None, socket_user=user)
    return AnnotatedListener(sock, assessment=Assessment(risk, "test") if risk else None)
