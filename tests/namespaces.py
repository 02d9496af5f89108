"""Real network namespaces and cgroups for tests (root only): `ip netns add pwtest-…`, listeners
started inside one (`ip netns exec`, `unshare --net`), and systemd-style cgroups made by hand.
Everything is named with a `pwtest` prefix and removed by the context managers that made it."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

V1_SYSTEMD = Path("/sys/fs/cgroup/systemd")  # the named v1 hierarchy of the hybrid layout
V2_UNIFIED = Path("/sys/fs/cgroup/unified")


def root_skip_reason(*tools: str) -> str | None:
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "needs root (network namespaces, cgroups)"
    missing = [tool for tool in tools if shutil.which(tool) is None]
    return f"needs {', '.join(missing)}" if missing else None


def scan_until(scanner, predicate, what: str, deadline: float = 60):
    """Scan until some row satisfies predicate; those rows (a generous deadline: a loaded
    machine, a container that starts slowly)."""
    end = time.monotonic() + deadline
    while True:
        found = [row for row in scanner.scan().listeners if predicate(row)]
        if found:
            return found
        assert time.monotonic() < end, f"never saw {what}"
        time.sleep(0.05)


def unique(kind: str) -> str:
    return f"pwtest-{kind}-{uuid.uuid4().hex[:6]}"


@contextlib.contextmanager
def named_netns(kind: str = "ns") -> Iterator[str]:
    """A namespace from `ip netns add`, deleted afterwards (with whatever links it holds)."""
    name = unique(kind)
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


@contextlib.contextmanager
def unit_cgroup(root: Path, path: str) -> Iterator[Path]:
    """A cgroup at root/path (e.g. "pwtest.slice/pwtest-x.service"); processes written to its
    cgroup.procs later are moved back to the root before the directories are removed."""
    target = root / path
    made: list[Path] = []
    for parent in reversed([target, *target.parents]):
        if parent == root or root not in parent.parents:
            continue
        if not parent.exists():
            parent.mkdir()
            made.append(parent)
    try:
        yield target
    finally:
        for folder in reversed(made):
            procs = folder / "cgroup.procs"
            deadline = time.monotonic() + 30
            while True:
                try:
                    pids = procs.read_text().split()
                except OSError:
                    pids = []
                for pid in pids:
                    with contextlib.suppress(OSError):
                        (root / "cgroup.procs").write_text(pid)
                try:
                    folder.rmdir()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)


def move_into(cgroup: Path, pid: int) -> None:
    (cgroup / "cgroup.procs").write_text(str(pid))
