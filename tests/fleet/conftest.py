"""Fixtures for the "many machines" tests: network namespaces and daemons started by the test
(node_exporter, prometheus, journald, sshd), ended by their PID. Helpers are in fleet.py."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fleet import Daemon, need_root_and
from sshd_machine import machine  # noqa: F401  (the fixture: a second machine with sshd)


@pytest.fixture
def daemons() -> Iterator[Callable[..., Daemon]]:
    """Start daemons with `daemons(argv, log_path, **popen)`; all are stopped afterwards."""
    started: list[Daemon] = []

    def start(argv: list[str], log: Path, **popen) -> Daemon:
        daemon = Daemon(argv, log, **popen)
        started.append(daemon)
        return daemon

    yield start
    for daemon in reversed(started):
        daemon.stop()


@pytest.fixture
def netns() -> Iterator[str]:
    """A new network namespace with only `lo` (up): a listener on 0.0.0.0 there is reachable
    from nowhere but the namespace itself. Removed afterwards."""
    need_root_and("ip")
    name = f"pwtest-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False)


