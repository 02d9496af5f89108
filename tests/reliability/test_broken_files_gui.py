"""Broken files and the window: the real program starts with a broken settings.yaml, broken
catalog.d files and a damaged history, says so, shows the listeners, and leaves every one of
those files as it was; saving preferences from the window keeps a file that did not parse
(settings.yaml.broken-<time>) and explains a save that cannot happen."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtWidgets import QMessageBox
from rel_common import GuiProcess, tally
from test_broken_files import alias_bomb, tree

from portwatch.core.monitor import Monitor
from portwatch.core.store.settings import Settings, load_settings
from portwatch.gui.app import PortwatchGui


def test_the_program_runs_with_broken_files_says_so_and_touches_none(tmp_path):
    gui = GuiProcess(tmp_path)
    (gui.config / "settings.yaml").write_text("poll_interval: [0.5,\nnotifications: maybe\n")
    catalog = gui.config / "catalog.d"
    catalog.mkdir()
    (catalog / "bomb.yaml").write_text(alias_bomb("entries"))
    (catalog / "deep.yaml").write_text("a: " + "[" * 50_000 + "]" * 50_000 + "\n")
    (catalog / "broken.yaml").write_text("schema: 1\nentries: [\n")
    (catalog / "loop.yaml").symlink_to("loop.yaml")
    (gui.data / "history.sqlite3").write_bytes(b"SQLite format 3\x00" + os.urandom(8192))
    before = {"config": tree(gui.config), "history": tree(gui.data)["history.sqlite3"]}
    gui.start()
    try:
        log = gui.wait_for("table populated", "settings.yaml: is not valid YAML at line",
                           "bomb.yaml: uses a YAML alias", "deep.yaml: is nested more than",
                           "broken.yaml: is not valid YAML",
                           "loop.yaml: cannot be read (Too many levels of symbolic links)",
                           "history.sqlite3 is damaged",
                           "portwatch keeps watching without saving history", timeout=90)
        assert "Traceback" not in log
    finally:
        assert gui.stop() is not None
    after = tree(gui.config)  # the user's files as they were (the app may add its own)
    assert {name: after.get(name) for name in before["config"]} == before["config"]
    assert tree(gui.data)["history.sqlite3"] == before["history"]
    assert not [p for p in gui.data.iterdir() if p.name.startswith("history.sqlite3-")]
    tally("broken files tried", 6)


def empty_scan():
    from portwatch.core.model import Snapshot

    return Snapshot(0.0, ())


def test_saving_preferences_from_the_window_keeps_a_file_that_did_not_parse(qtbot, tmp_path):
    path = tmp_path / "files" / "settings.yaml"
    path.parent.mkdir()
    path.write_bytes(b"poll_interval: 3\nnotifications: [oops\n# my notes\n")
    content, mtime = path.read_bytes(), path.stat().st_mtime_ns
    app = PortwatchGui(Settings(), Monitor(empty_scan), settings_path=path)
    qtbot.addWidget(app.window)
    try:
        app.window.settings_changed.emit(Settings(poll_interval=5.0))
        (kept,) = path.parent.glob("settings.yaml.broken-*")
        assert kept.read_bytes() == content and kept.stat().st_mtime_ns == mtime
        assert load_settings(path) == (Settings(poll_interval=5.0), [])
        assert app.window.statusBar().currentMessage() == "Preferences saved."
    finally:
        app.shutdown()
    tally("broken files tried")


def test_a_save_that_cannot_happen_is_explained_and_changes_nothing(qtbot, tmp_path):
    path = tmp_path / "files" / "settings.yaml"
    path.mkdir(parents=True)  # a directory where the file should be
    before = tree(path.parent)
    app = PortwatchGui(Settings(), Monitor(empty_scan), settings_path=path)
    qtbot.addWidget(app.window)
    try:
        app.window.settings_changed.emit(Settings(poll_interval=5.0))
        boxes = [box for box in app.window.findChildren(QMessageBox) if box.isVisible()]
        (box,) = boxes
        assert box.windowTitle() == "Settings not saved"
        assert str(path) in box.text() and "is a directory" in box.text()
        box.close()
    finally:
        app.shutdown()
    assert tree(path.parent) == before
    assert Path(path).is_dir()
    tally("broken files tried")
