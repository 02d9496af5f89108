"""Private by default: portwatch's folders are 0700 and its files 0600 whatever the umask, a
history file of another user is refused, and every folder problem is a sentence that says why
(not a bare errno, not "no history recorded yet")."""

from __future__ import annotations

import json
import logging
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest
from nobody import nobody_skip_reason, run_as_nobody

from portwatch.core.files import paths
from portwatch.core.probe.owner_cache import write_saved
from portwatch.core.store.history import (
    HistoryError,
    HistoryReader,
    HistoryStore,
    MemoryHistory,
    open_history,
)
from portwatch.core.store.settings import Settings, save_settings


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask_zero():
    """The most permissive umask a user can have; put back afterwards."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def portwatch(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "portwatch", *args], capture_output=True,
                          text=True, timeout=60)


def test_folders_0700_and_files_0600_with_umask_zero(tmp_path, umask_zero):
    data = tmp_path / "deep" / "share" / "portwatch"
    config = tmp_path / "cfg" / "portwatch"
    store = HistoryStore(data / "history.sqlite3")
    try:
        store.record_events([], new_run=True)  # a write: the -wal and -shm files exist now
        for part in (tmp_path / "deep", tmp_path / "deep" / "share", data):
            assert mode(part) == 0o700, part
        for name in ("history.sqlite3", "history.sqlite3-wal", "history.sqlite3-shm"):
            assert (data / name).exists() and mode(data / name) == 0o600, name
    finally:
        store.close()
    save_settings(Settings(), config / "settings.yaml")
    assert mode(config) == 0o700 and mode(config.parent) == 0o700
    assert mode(config / "settings.yaml") == 0o600
    write_saved(data / "owner-map-0.json", {"x": 1})
    assert mode(data / "owner-map-0.json") == 0o600


def test_an_existing_history_readable_by_others_is_made_private(tmp_path):
    path = tmp_path / "history.sqlite3"
    HistoryStore(path).close()
    path.chmod(0o644)
    HistoryStore(path).close()
    assert mode(path) == 0o600


def test_a_brand_new_file_is_not_called_an_upgrade(tmp_path, caplog):
    with caplog.at_level(logging.DEBUG, logger="portwatch"):
        HistoryStore(tmp_path / "history.sqlite3").close()
    assert not [r for r in caplog.records if "upgraded" in r.getMessage()]


def test_a_history_file_of_another_user_is_refused_with_a_message(isolated_dirs):
    nobody = pwd.getpwnam("nobody")
    path = paths.history_file()
    HistoryStore(path).close()
    if os.geteuid() != 0:
        pytest.skip("giving a file to another user needs root")
    os.chown(path, nobody.pw_uid, nobody.pw_gid)
    before = path.read_bytes()
    history, problems = open_history(path)
    history.close()
    assert isinstance(history, MemoryHistory)
    (problem,) = problems
    assert "belongs to another user, nobody" in problem and "chown" in problem
    with pytest.raises(HistoryError, match="belongs to another user"):
        HistoryReader(path)
    result = portwatch("history")
    assert result.returncode == 1 and "belongs to another user, nobody" in result.stderr
    assert path.read_bytes() == before and os.stat(path).st_uid == nobody.pw_uid


def _loop(data: Path) -> str:
    data.rmdir()
    data.symlink_to(data)
    return "symbolic link that leads back to itself"


def _regular_file(data: Path) -> str:
    data.rmdir()
    data.write_text("not a folder\n")
    return f"{data} is a file, not a folder"


def _dangling(data: Path) -> str:
    data.rmdir()
    data.symlink_to(data.parent / "gone")
    return "which does not exist"


@pytest.mark.parametrize("make", [_loop, _regular_file, _dangling])
def test_a_data_folder_that_cannot_be_a_folder_is_said_in_words(isolated_dirs, make):
    _, data = isolated_dirs
    words = make(data)
    history, problems = open_history(paths.history_file())
    history.close()
    assert isinstance(history, MemoryHistory)
    (problem,) = problems
    assert words in problem and "Errno" not in problem, problem
    for args in (("history",), ("history", "--json")):
        result = portwatch(*args)
        assert result.returncode == 1, result.stdout
        assert words in result.stderr and "no history recorded yet" not in result.stdout
        assert "Errno" not in result.stderr


NOBODY_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from portwatch.core.store.history import open_history, HistoryReader, HistoryError
    path = Path(sys.argv[1])
    history, problems = open_history(path)
    history.close()
    try:
        HistoryReader(path).close()
        read = "read"
    except (HistoryError, FileNotFoundError) as exc:
        read = str(exc)
    print(json.dumps({"kind": type(history).__name__, "problems": problems, "read": read}))
    """
)


@pytest.fixture
def nobody_home(request):
    """A folder of nobody's own (pytest's tmp is root's only)."""
    base = Path(tempfile.mkdtemp(prefix="pwtest-private-"))
    request.addfinalizer(lambda: shutil.rmtree(base, ignore_errors=True))
    base.chmod(0o755)
    return base


def open_as_nobody(code: Path, path: Path) -> tuple[dict, str]:
    """What nobody's open_history and HistoryReader say about `path`; the one problem."""
    result = run_as_nobody(code, ["-c", NOBODY_SCRIPT, str(path)])
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["kind"] == "MemoryHistory"
    (problem,) = out["problems"]
    return out, problem


@pytest.mark.skipif(nobody_skip_reason() is not None, reason=str(nobody_skip_reason()))
def test_mode_000_folder_and_read_only_file_as_nobody(nobody_copy, nobody_home):
    """Root ignores permission bits, so these run as nobody, who owns the folder and file."""
    nobody = pwd.getpwnam("nobody")
    closed = nobody_home / "closed"
    closed.mkdir()
    os.chown(closed, nobody.pw_uid, nobody.pw_gid)
    closed.chmod(0)
    out, problem = open_as_nobody(nobody_copy, closed / "history.sqlite3")
    assert "does not let nobody" in problem and "chmod 700" in problem, problem
    assert "Errno" not in problem
    assert "does not let nobody" in out["read"]

    folder = nobody_home / "ro"
    folder.mkdir()
    path = folder / "history.sqlite3"
    HistoryStore(path).close()
    for each in (folder, path):
        os.chown(each, nobody.pw_uid, nobody.pw_gid)
    path.chmod(0o400)
    before = path.read_bytes()
    out, problem = open_as_nobody(nobody_copy, path)
    assert "is read-only" in problem and "chmod 600" in problem, problem
    assert "unable to open database file" not in problem
    assert out["read"] == "read"  # reading a read-only file works
    assert path.read_bytes() == before


def test_a_file_created_a_moment_ago_without_its_tables_is_no_history_yet(isolated_dirs):
    """HistoryStore creates the file 0600 first and its tables a moment later: a reader in
    between finds nothing recorded yet (not a file of an older version)."""
    from portwatch.core.files.private import create_private_file

    path = paths.history_file()
    assert create_private_file(path)
    with pytest.raises(FileNotFoundError):
        HistoryReader(path)
    result = portwatch("history")
    assert result.returncode == 0 and "no history recorded yet" in result.stdout
