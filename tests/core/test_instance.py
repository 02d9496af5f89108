"""core/desktop/instance.py finds a running window through its single-instance lock, without Qt: an
flock held on the lock file means a window runs; a lock file left behind does not."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest

from portwatch.core.desktop import instance
from portwatch.core.files import paths


@pytest.fixture
def runtime_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "run"
    folder.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(folder))
    return folder


def hold_lock(path: Path, pid: int) -> int:
    """Hold the lock as the window's QLockFile does: the PID on the first line, an flock."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.write(fd, f"{pid}\npython3\nhost\n".encode())
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


def test_the_lock_is_named_by_the_config_directory(runtime_dir, tmp_path):
    first = instance.lock_path()
    assert first.parent == runtime_dir
    assert first.name.startswith("portwatch-") and first.name.endswith(".sock.lock")
    assert instance.lock_path(tmp_path / "elsewhere") != first
    assert instance.lock_path(paths.config_dir()) == first


def test_no_window_without_a_lock_file(runtime_dir):
    assert instance.window_running() is None
    assert list(runtime_dir.iterdir()) == []  # asking creates nothing


def test_a_held_lock_is_a_running_window(runtime_dir):
    fd = hold_lock(instance.lock_path(), 4242)
    try:
        assert instance.window_running() == 4242
    finally:
        os.close(fd)
    assert instance.window_running() is None  # the lock went with its holder


def test_a_lock_file_left_by_a_crash_is_not_a_window(runtime_dir):
    instance.lock_path().write_text(f"{os.getpid()}\npython3\nhost\n")  # a live PID, no flock
    assert instance.window_running() is None


def test_no_private_directory_means_no_window(tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(shared))
    monkeypatch.setattr(instance.tempfile, "gettempdir", lambda: str(tmp_path / "none"))
    assert instance.lock_path() is None
    assert instance.window_running() is None
