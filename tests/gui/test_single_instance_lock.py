"""The window's single-instance lock is what `portwatch watch` looks for (core/desktop/instance.py):
same file name, and a claimed lock reads as a running window with this PID."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from portwatch.core.desktop import instance
from portwatch.gui.desktop.single_instance import SingleInstance


@pytest.fixture
def runtime_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "run"
    folder.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(folder))
    return folder


def test_watch_sees_the_windows_lock(qtbot, runtime_dir):
    window = SingleInstance()
    assert Path(window.path + ".lock") == instance.lock_path()
    assert instance.window_running() is None
    assert window.claim()
    try:
        assert instance.window_running() == os.getpid()
    finally:
        window.close()
    assert instance.window_running() is None


def test_the_names_agree_without_xdg_runtime_dir(qtbot, monkeypatch, tmp_path):
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    window = SingleInstance()  # makes the private /tmp/portwatch-<uid> folder
    assert window.path is not None
    assert Path(window.path + ".lock") == instance.lock_path()
