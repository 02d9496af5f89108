"""Broken files: settings.yaml, catalog.d/*.yaml and history.sqlite3 with syntax errors, wrong
types, 10 MB of data, a directory or a symlink loop in their place, nesting that crashes
libyaml, aliases that expand a few hundred bytes into billions of values, and a damaged
database. Each gives a clear message (the words are checked), the defaults are used, and the
user's files are never written, truncated or touched (bytes and mtime compared), also when the
app saves preferences: a file that did not parse is kept as settings.yaml.broken-<time>.
Every save is atomic: a failure or an interrupt mid-save leaves the old file and no temp file.

Parsing that could crash or hang the interpreter runs in a child process with a timeout, so a
regression fails one test instead of killing the run.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest
from nobody import nobody_skip_reason, run_as_nobody
from rel_common import REPO, tally

from portwatch.core.desktop import autostart
from portwatch.core.knowledge.catalog import load_catalog
from portwatch.core.model import Proto
from portwatch.core.output import export
from portwatch.core.probe import owner_cache
from portwatch.core.store.history import HistoryStore, MemoryHistory, open_history
from portwatch.core.store.settings import Settings, SettingsError, load_settings, save_settings

TEN_MB = 10 * 1024 * 1024


@pytest.fixture
def work(tmp_path) -> Path:
    """A directory of this test's own (tmp_path also holds the isolated config and data)."""
    path = tmp_path / "files"
    path.mkdir()
    return path


def snapshot(path: Path) -> tuple[bytes | None, int | None, int]:
    """(content, mtime_ns, mode) of a file; content None for a directory or a dangling link."""
    info = os.lstat(path)
    content = None
    if stat.S_ISREG(info.st_mode):
        content = path.read_bytes()
    return content, info.st_mtime_ns, info.st_mode


def tree(directory: Path) -> dict[str, tuple]:
    """Every entry under `directory` with its snapshot."""
    found = {}
    for root, dirs, files in os.walk(directory, followlinks=False):
        for name in [*dirs, *files]:
            path = Path(root, name)
            found[str(path.relative_to(directory))] = snapshot(path)
    return found


def alias_bomb(final_key: str, levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]")
    lines.append(f"{final_key}: *a{levels - 1}")
    return "\n".join(lines) + "\n"


def run_isolated(code: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Python code in a child process (a crash or a hang there cannot end this run)."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=timeout, cwd=REPO)


# -- settings.yaml --------------------------------------------------------------------------


def make_settings(kind: str, path: Path) -> str:
    """Put a broken settings file of `kind` at `path`; returns the words its message has."""
    if kind == "syntax":
        path.write_text("poll_interval: [1, 2\nnotifications: true\n")
        return "is not valid YAML at line"
    if kind == "wrong-types":
        path.write_text("poll_interval: fast\nnotifications: 3\nalert_coalesce: -1\n")
        return "poll_interval must be a number from 0.5 to 60, not 'fast'; using the default 2"
    if kind == "huge":
        with path.open("wb") as handle:
            handle.write(b"# " + b"x" * (TEN_MB - 3) + b"\n")
        return "is 10,240 KB; a settings file over 256 KB is not read; using the default"
    if kind == "directory":
        path.mkdir()
        return "is a directory, not a settings file; using the default settings"
    if kind == "symlink-loop":
        path.symlink_to(path.name)
        return "cannot be read (Too many levels of symbolic links); using the default settings"
    if kind == "not-utf8":
        path.write_bytes(b"poll_interval: 5\nname: \xff\xfe\n")
        return "is not UTF-8 text (byte"
    if kind == "not-a-mapping":
        path.write_text("- poll_interval\n- 5\n")
        return "should hold settings as `name: value` lines, but holds a list"
    if kind == "deep":
        path.write_text("poll_interval: " + "[" * 120_000 + "]" * 120_000 + "\n")
        return "is nested more than 32 levels deep at line 1"
    if kind == "aliases":
        path.write_text(alias_bomb("poll_interval"))
        return "uses a YAML alias (*name)"
    raise AssertionError(kind)


SETTINGS_KINDS = ["syntax", "wrong-types", "huge", "directory", "symlink-loop", "not-utf8",
                  "not-a-mapping", "deep", "aliases"]


@pytest.mark.parametrize("kind", SETTINGS_KINDS)
def test_broken_settings_load_as_defaults_with_a_clear_message_and_stay_untouched(
        work, kind):
    path = work / "settings.yaml"
    words = make_settings(kind, path)
    before = tree(work)
    # In a child: the deep file crashed the interpreter (libyaml recursion) and the aliases
    # hung it (repr of a billion values) before they were refused.
    result = run_isolated(f"""
        import json, dataclasses
        from pathlib import Path
        from portwatch.core.store.settings import load_settings
        settings, messages = load_settings(Path({str(path)!r}))
        print(json.dumps([dataclasses.asdict(settings), messages]))
        """, timeout=30)
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr[-2000:]}"
    values, messages = json.loads(result.stdout)
    assert any(words in message for message in messages), messages
    assert all(str(path) in message for message in messages)
    defaults = Settings()
    assert values["poll_interval"] == defaults.poll_interval
    assert values["notifications"] == defaults.notifications
    assert tree(work) == before  # nothing written, nothing touched
    tally("broken files tried")


@pytest.mark.parametrize("kind", ["syntax", "huge", "not-utf8", "not-a-mapping", "deep",
                                  "aliases"])
def test_saving_over_a_file_that_did_not_parse_keeps_it_byte_for_byte(work, kind):
    path = work / "settings.yaml"
    make_settings(kind, path)
    content, mtime, _mode = snapshot(path)
    save_settings(Settings(poll_interval=7.0), path)
    (kept,) = work.glob("settings.yaml.broken-*")
    assert snapshot(kept)[:2] == (content, mtime)  # the user's bytes, and their time
    assert load_settings(path) == (Settings(poll_interval=7.0), [])
    assert sorted(p.name for p in work.iterdir()) == ["settings.yaml", kept.name]
    tally("broken files tried")


def test_saving_keeps_the_users_unknown_keys(work):
    path = work / "settings.yaml"
    path.write_text("poll_interval: fast\nmy_own_note: keep me\n")
    save_settings(Settings(poll_interval=3.0), path)
    text = path.read_text()
    assert "my_own_note: keep me" in text and "poll_interval: 3.0" in text


@pytest.mark.parametrize("kind", ["directory", "symlink-loop", "dangling"])
def test_saving_never_replaces_a_directory_or_a_link_it_cannot_follow(work, kind):
    path = work / "settings.yaml"
    if kind == "dangling":
        path.symlink_to(work / "nowhere" / "settings.yaml")
    else:
        make_settings(kind, path)
    before = tree(work)
    with pytest.raises(SettingsError) as raised:
        save_settings(Settings(poll_interval=7.0), path)
    message = str(raised.value)
    assert str(path) in message and "left as it is" in message
    assert ("is a directory" if kind == "directory" else "symbolic link that cannot be followed"
            ) in message
    assert tree(work) == before
    tally("broken files tried")


def test_a_settings_file_that_is_a_link_stays_a_link(work):
    """Settings kept in a dotfiles repository: the link stays, the file it points to is
    updated (atomically, next to itself)."""
    dotfiles = work / "dotfiles"
    dotfiles.mkdir()
    real = dotfiles / "portwatch.yaml"
    real.write_text("poll_interval: 4\n")
    config = work / "config"
    config.mkdir()
    link = config / "settings.yaml"
    link.symlink_to(real)
    save_settings(Settings(poll_interval=9.0), link)
    assert link.is_symlink() and link.resolve() == real
    assert load_settings(link)[0].poll_interval == 9.0
    assert sorted(p.name for p in dotfiles.iterdir()) == ["portwatch.yaml"]
    assert sorted(p.name for p in config.iterdir()) == ["settings.yaml"]


@pytest.mark.parametrize("failure", ["replace", "fsync", "interrupt"])
def test_a_save_that_fails_midway_leaves_the_old_file_and_no_temp_file(
        work, monkeypatch, failure):
    path = work / "settings.yaml"
    path.write_text("poll_interval: 4\n# my comment\n")
    before = snapshot(path)

    def boom(*_args, **_kwargs):
        if failure == "interrupt":
            raise KeyboardInterrupt  # the user pressed Ctrl-C mid-save
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync" if failure == "fsync" else "replace", boom)
    expected = KeyboardInterrupt if failure == "interrupt" else SettingsError
    with pytest.raises(expected) as raised:
        save_settings(Settings(poll_interval=9.0), path)
    monkeypatch.undo()
    if failure != "interrupt":
        assert "No space left on device" in str(raised.value)
        assert "the file was left as it was" in str(raised.value)
    assert snapshot(path) == before
    assert sorted(p.name for p in work.iterdir()) == ["settings.yaml"]
    tally("atomic saves interrupted")


@pytest.mark.parametrize("failure", ["replace", "interrupt"])
def test_every_other_writer_is_atomic_too(work, monkeypatch, failure):
    """Exports, the saved owner map and the autostart entry: the old file stays whole and no
    temp file is left when the save fails or is interrupted mid-way."""
    targets = {
        "export": work / "out" / "table.json",
        "owners": work / "data" / "owner-map-0.json",
        "autostart": work / "config" / "autostart" / f"{autostart.APP_ID}.desktop"
        if hasattr(autostart, "APP_ID") else None,
    }
    for path in targets.values():
        if path is not None:
            path.parent.mkdir(parents=True)
            path.write_text("the old, complete file\n")
    writers = {
        "export": lambda: export.write_atomic(targets["export"], "[]\n"),
        "owners": lambda: owner_cache.write_saved(targets["owners"], {"format": 2}),
        "autostart": lambda: autostart.enable_autostart(work / "config",
                                                        command=["portwatch"]),
    }
    real_replace = os.replace

    def boom(*args, **kwargs):
        if failure == "interrupt":
            raise KeyboardInterrupt
        raise OSError(5, "Input/output error")

    for name, write in writers.items():
        path = targets[name]
        if path is None:
            path = autostart.autostart_file(work / "config")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("the old, complete file\n")
            targets[name] = path
        before = snapshot(path)
        monkeypatch.setattr(os, "replace", boom)
        with pytest.raises((KeyboardInterrupt, Exception)):
            write()
        monkeypatch.setattr(os, "replace", real_replace)
        assert snapshot(path) == before, name
        assert sorted(p.name for p in path.parent.iterdir()) == [path.name], name
        tally("atomic saves interrupted")


# -- catalog.d -----------------------------------------------------------------------------------


def make_catalog_file(kind: str, directory: Path) -> str:
    path = directory / f"{kind}.yaml"
    if kind == "syntax":
        path.write_text("schema: 1\nentries: [\n")
        return "is not valid YAML at line"
    if kind == "wrong-types":
        path.write_text("schema: 1\ntopic: t\nentries:\n  - ports: seventy\n    protos: [tcp]\n"
                        "    uses: []\n    security: []\n")
        return "ports must be a port (0-65535)"
    if kind == "huge":
        with path.open("wb") as handle:
            handle.write(b"# " + b"x" * (TEN_MB - 3) + b"\n")
        return "a catalog file over 1 MB is not read"
    if kind == "directory":
        path.mkdir()
        return "is a directory, not a catalog file"
    if kind == "symlink-loop":
        path.symlink_to(path.name)
        return "cannot be read (Too many levels of symbolic links)"
    if kind == "not-utf8":
        path.write_bytes(b"schema: 1\ntopic: \xff\n")
        return "is not UTF-8 text"
    if kind == "deep":
        path.write_text("a: " + "[" * 50_000 + "]" * 50_000 + "\n")
        return "is nested more than 32 levels deep at line 1"
    if kind == "aliases":
        path.write_text(alias_bomb("entries"))
        return "uses a YAML alias (*name)"
    raise AssertionError(kind)


CATALOG_KINDS = ["syntax", "wrong-types", "huge", "directory", "symlink-loop", "not-utf8",
                 "deep", "aliases"]


def test_broken_catalog_files_are_skipped_with_a_message_each(work):
    directory = work / "catalog.d"
    directory.mkdir()
    words = {kind: make_catalog_file(kind, directory) for kind in CATALOG_KINDS}
    (directory / "good.yaml").write_text(textwrap.dedent("""\
        schema: 1
        topic: mine
        entries:
          - ports: 6390
            proto: tcp
            uses:
              - software: Team cache
                note: ours
                refs: []
            security: []
        """))
    before = tree(work)
    result = run_isolated(f"""
        import json
        from pathlib import Path
        from portwatch.core.knowledge.catalog import load_catalog
        catalog = load_catalog(Path({str(directory)!r}))
        print(json.dumps({{"problems": list(catalog.problems),
                           "ssh": catalog.lookup(22, "tcp").service,
                           "mine": [u.software for u in catalog.lookup(6390, "tcp").uses]}}))
        """, timeout=60)
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr[-2000:]}"
    out = json.loads(result.stdout)
    for kind, expected in words.items():
        mine = [p for p in out["problems"] if f"{kind}.yaml" in p]
        assert mine, f"no message for {kind}: {out['problems']}"
        assert any(expected in p for p in mine), (kind, mine)
        tally("broken files tried")
    assert out["ssh"] == "ssh"  # the bundled catalog is intact
    assert out["mine"] == ["Team cache"]  # and the good user file is read
    assert tree(work) == before


def test_a_catalog_dir_that_is_a_file_or_a_loop_is_a_message(work):
    as_file = work / "catalog.d"
    as_file.write_text("not a directory")
    catalog = load_catalog(as_file)
    assert catalog.lookup(22, Proto.TCP).service == "ssh"
    assert any("cannot list your catalog files" in p for p in catalog.problems)
    loop = work / "loop.d"
    loop.symlink_to(loop.name)
    catalog = load_catalog(loop)
    assert catalog.lookup(22, Proto.TCP).service == "ssh"
    tally("broken files tried", 2)


# -- history.sqlite3 ---------------------------------------------------------------------------


def make_history(kind: str, path: Path) -> str:
    if kind == "garbage":
        path.write_bytes(os.urandom(64 * 1024))
        return "is damaged (file is not a database)"
    if kind == "truncated":
        store = HistoryStore(path)
        store.close()
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2 + 100])
        return "history file"
    if kind == "directory":
        path.mkdir()
        return "cannot be opened"
    if kind == "text":
        path.write_text("this is my diary, not a database\n" * 100)
        return "is damaged (file is not a database)"
    if kind == "foreign":
        conn = sqlite3.connect(path)
        conn.execute("CREATE TABLE recipes (name TEXT)")
        conn.commit()
        conn.close()
        return "is not a portwatch history"
    if kind == "corrupt-pages":
        store = HistoryStore(path)
        store.close()
        data = bytearray(path.read_bytes())
        page = 4096
        for offset in range(page, len(data), page):  # every page after the header page
            data[offset:offset + 64] = os.urandom(64)
        path.write_bytes(bytes(data))
        return "is damaged"
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["garbage", "truncated", "directory", "text", "foreign",
                                  "corrupt-pages"])
def test_a_broken_history_file_falls_back_to_memory_and_is_left_untouched(work, kind):
    path = work / "history.sqlite3"
    words = make_history(kind, path)
    before = tree(work)
    history, problems = open_history(path)
    try:
        if isinstance(history, MemoryHistory):
            (message,) = problems
            assert words in message
            assert "portwatch keeps watching without saving history" in message
            assert "the file was left untouched" in message
        else:  # a truncated file SQLite can still read: it works and nothing was lost
            assert kind == "truncated" and problems == []
    finally:
        history.close()
    after = tree(work)
    if isinstance(history, MemoryHistory):
        assert after == before
    tally("broken files tried")


# -- read-only config and data directories, as an unprivileged user --------------------------


READ_ONLY_SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    from pathlib import Path
    from portwatch.core.store.settings import Settings, SettingsError, load_settings, save_settings
    from portwatch.core.store.history import open_history
    config, data = Path(sys.argv[1]), Path(sys.argv[2])
    out = {}
    settings, out["load_messages"] = load_settings(config / "settings.yaml")
    out["poll_interval"] = settings.poll_interval
    try:
        save_settings(Settings(poll_interval=9.0), config / "settings.yaml")
        out["save"] = "saved"
    except SettingsError as exc:
        out["save"] = str(exc)
    history, out["history_problems"] = open_history(data / "history.sqlite3")
    out["history"] = type(history).__name__
    history.close()
    print(json.dumps(out))
    """
)


@pytest.mark.skipif(nobody_skip_reason() is not None, reason=str(nobody_skip_reason()))
def test_read_only_config_and_data_dirs_as_nobody(request, nobody_copy):
    """The user's own config and data directories, mode 0500 (root ignores permission bits,
    so this runs as nobody, who owns them): settings load, a save says why it cannot, the
    history falls back to memory, and nothing changes on disk."""
    import pwd

    nobody = pwd.getpwnam("nobody")
    base = Path(tempfile.mkdtemp(prefix="portwatch-readonly-"))  # pytest's tmp is root's only
    request.addfinalizer(lambda: shutil.rmtree(base, ignore_errors=True))
    config = base / "config"
    data = base / "data"
    config.mkdir(parents=True)
    data.mkdir()
    settings = config / "settings.yaml"
    settings.write_text("poll_interval: 4\n")
    base.chmod(0o755)
    for path in (config, data, settings):
        os.chown(path, nobody.pw_uid, nobody.pw_gid)
    settings.chmod(0o644)
    for path in (config, data):
        path.chmod(0o500)
    before = tree(base)
    result = run_as_nobody(nobody_copy, ["-c", READ_ONLY_SCRIPT, str(config), str(data)])
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["poll_interval"] == 4.0 and out["load_messages"] == []
    assert out["save"].startswith(f"cannot save the settings to {settings}")
    assert f"the settings folder {config} does not let nobody" in out["save"]
    assert "left as it was" in out["save"]
    assert out["history"] == "MemoryHistory"
    (problem,) = out["history_problems"]
    assert f"the data folder {data} does not let nobody" in problem, problem
    assert "portwatch keeps watching without saving history" in problem
    assert tree(base) == before
    tally("broken files tried", 2)
