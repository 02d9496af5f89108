"""Start at login: the XDG autostart entry is written atomically into a temp XDG_CONFIG_HOME,
is a valid desktop file that starts this portwatch, and is removed again."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from portwatch.core.desktop import autostart
from portwatch.core.desktop.autostart import (
    AutostartError,
    autostart_command,
    autostart_enabled,
    autostart_file,
    disable_autostart,
    enable_autostart,
    exec_line,
)

NAME = "io.github.portwatch.portwatch.desktop"


@pytest.fixture
def config_home(tmp_path, monkeypatch):
    home = tmp_path / "xdg-config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FLATPAK_ID", raising=False)
    return home


def desktop_keys(path: Path) -> dict[str, str]:
    return autostart._desktop_entry_keys(path.read_text(encoding="utf-8"))


def validate(path: Path) -> None:
    if shutil.which("desktop-file-validate") is None:
        pytest.skip("desktop-file-validate (desktop-file-utils) is not installed")
    result = subprocess.run(["desktop-file-validate", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "error" not in result.stdout, result.stdout


def exec_argv(path: Path) -> list[str]:
    """The Exec line split as the Desktop Entry spec tells a launcher to: undo the string
    escapes, split on spaces outside double quotes (inside them a backslash escapes the next
    character), then turn %% into %."""
    string_escapes = {"s": " ", "n": "\n", "t": "\t", "r": "\r"}
    value = re.sub(r"\\(.)", lambda m: string_escapes.get(m.group(1), m.group(1)),
                   desktop_keys(path)["Exec"])
    args: list[str] = []
    current: list[str] = []
    quoted = escaped = started = False
    for ch in value:
        if escaped:
            current.append(ch)
            escaped = False
        elif quoted and ch == "\\":
            escaped = True
        elif ch == '"':
            quoted, started = not quoted, True
        elif ch == " " and not quoted:
            if current or started:
                args.append("".join(current))
            current, started = [], False
        else:
            current.append(ch)
    assert not quoted and not escaped, value
    if current or started:
        args.append("".join(current))
    return [arg.replace("%%", "%") for arg in args]


def test_enable_writes_a_valid_entry_under_xdg_config_home(config_home):
    assert not autostart_enabled()
    path = enable_autostart()
    assert path == config_home / "autostart" / NAME
    assert autostart_enabled()
    keys = desktop_keys(path)
    assert keys["Type"] == "Application"
    assert keys["Icon"] == "io.github.portwatch.portwatch"
    assert oct(path.stat().st_mode & 0o777) == "0o644"
    validate(path)
    assert [p.name for p in path.parent.iterdir()] == [NAME]  # no temp file left behind


def test_the_entry_starts_this_portwatch(config_home):
    path = enable_autostart()
    argv = exec_argv(path)
    assert os.path.isabs(argv[0]) and os.access(argv[0], os.X_OK), argv
    cwd = desktop_keys(path).get("Path")
    result = subprocess.run([*argv, "--version"], capture_output=True, text=True, cwd=cwd,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("portwatch ")


def test_explicit_config_home_wins_over_the_environment(config_home, tmp_path):
    other = tmp_path / "other"
    path = enable_autostart(other)
    assert path == other / "autostart" / NAME
    assert autostart_enabled(other)
    assert not autostart_enabled()
    assert disable_autostart(other)
    assert not path.exists()


def test_default_without_xdg_config_home_is_dot_config(monkeypatch, tmp_path):
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.delenv("FLATPAK_ID", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert autostart_file() == tmp_path / ".config" / "autostart" / NAME
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/is/ignored")
    assert autostart_file() == tmp_path / ".config" / "autostart" / NAME


def test_disable_removes_and_is_idempotent(config_home):
    path = enable_autostart()
    assert disable_autostart() is True
    assert not path.exists()
    assert not autostart_enabled()
    assert disable_autostart() is False


def test_enable_twice_rewrites_in_place(config_home):
    first = enable_autostart(command=["/opt/old/portwatch"])
    second = enable_autostart(command=["/opt/new/portwatch"])
    assert first == second
    assert desktop_keys(second)["Exec"] == "/opt/new/portwatch"
    assert len(list(second.parent.iterdir())) == 1


def test_a_failed_write_leaves_the_old_entry_and_no_temp_file(config_home, monkeypatch):
    path = enable_autostart(command=["/opt/old/portwatch"])
    before = path.read_bytes()

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(autostart.os, "replace", broken_replace)
    with pytest.raises(AutostartError, match="No space left"):
        enable_autostart(command=["/opt/new/portwatch"])
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == [NAME]


def test_unwritable_directory_raises_a_clear_error(config_home):
    config_home.mkdir()
    (config_home / "autostart").write_text("a file where the directory should be")
    with pytest.raises(AutostartError, match="autostart"):
        enable_autostart()


@pytest.mark.parametrize("line", ["Hidden=true", "X-GNOME-Autostart-enabled=false"])
def test_an_entry_switched_off_by_the_desktop_counts_as_disabled(config_home, line):
    path = enable_autostart()
    path.write_text(path.read_text().replace("X-GNOME-Autostart-enabled=true\n", "") + line + "\n")
    assert not autostart_enabled()


def test_exec_quoting_follows_the_desktop_entry_spec(config_home):
    assert exec_line(["/usr/bin/portwatch"]) == "/usr/bin/portwatch"
    assert exec_line(["/home/a b/portwatch"]) == '"/home/a b/portwatch"'
    assert exec_line(["/x/100%/portwatch"]) == "/x/100%%/portwatch"
    assert exec_line(['/we"ird$/p']) == '"/we\\\\"ird\\\\$/p"'
    with pytest.raises(ValueError):
        exec_line(["/a\nb"])
    hostile = ["/home/a b/it's $HOME/`x`/portwatch", "--flag=100%"]
    path = enable_autostart(command=hostile)
    validate(path)
    assert exec_argv(path) == hostile


def test_command_in_a_venv_is_the_portwatch_script_beside_the_interpreter(monkeypatch, tmp_path):
    bin_dir = tmp_path / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    script = bin_dir / "portwatch"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(bin_dir / "python"))
    monkeypatch.delenv("FLATPAK_ID", raising=False)
    assert autostart_command() == [str(script)]


def test_command_from_a_checkout_is_python_dash_m(monkeypatch, tmp_path, config_home):
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python3"))
    monkeypatch.delenv("FLATPAK_ID", raising=False)
    command = autostart_command()
    assert command == [str(tmp_path / "python3"), "-m", "portwatch"]
    keys = desktop_keys(enable_autostart(command=command))
    repo = Path(__file__).resolve().parents[2]
    assert keys.get("Path") == str(repo)  # so `-m portwatch` finds the package


def test_command_in_a_frozen_bundle_is_the_bundle(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "dist" / "portwatch" / "portwatch"))
    monkeypatch.delenv("FLATPAK_ID", raising=False)
    assert autostart_command() == [str(tmp_path / "dist" / "portwatch" / "portwatch")]


def test_inside_a_flatpak_the_entry_goes_to_the_host_config(monkeypatch, tmp_path):
    monkeypatch.setenv("FLATPAK_ID", "io.github.portwatch.portwatch")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / ".var/app/x/config"))
    assert autostart_command() == ["flatpak", "run", "io.github.portwatch.portwatch"]
    assert autostart_file() == tmp_path / ".config" / "autostart" / NAME
