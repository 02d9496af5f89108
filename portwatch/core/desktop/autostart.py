"""Start at login: writes and removes portwatch's XDG autostart entry (Linux and BSD desktops).

The entry is `$XDG_CONFIG_HOME/autostart/io.github.portwatch.portwatch.desktop` (default
`~/.config/autostart/`), written atomically (temp file in the same directory, fsync,
os.replace), so a crash never leaves a half-written file that a session manager would run.
Its Exec line starts the same portwatch that is running now: the frozen bundle's binary, the
`portwatch` script beside the current interpreter (a venv or a user install), `flatpak run` inside
a Flatpak, or `python -m portwatch` from a checkout. Plain Python, no Qt: the GUI's "start at
login" preference calls these functions.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from portwatch.core.files.atomic import write_atomic

log = logging.getLogger(__name__)

APP_ID = "io.github.portwatch.portwatch"
ENTRY_NAME = f"{APP_ID}.desktop"

# Characters the Desktop Entry spec reserves in Exec arguments: an argument holding one is quoted.
_RESERVED = set(" \t\n\"'\\><~|&;$*?#()`")


class AutostartError(Exception):
    """The autostart entry could not be written or removed (the message names the file)."""


def autostart_supported() -> bool:
    """True where XDG autostart applies (not Windows or macOS), so the GUI can hide the option."""
    return sys.platform not in ("win32", "darwin")


def autostart_file(config_home: str | os.PathLike[str] | None = None) -> Path:
    """Where the entry lives: `<config_home>/autostart/io.github.portwatch.portwatch.desktop`.

    config_home defaults to $XDG_CONFIG_HOME (when absolute), else ~/.config. Inside a Flatpak,
    where $XDG_CONFIG_HOME is the app's private ~/.var/app/... directory, the default is the
    host's ~/.config, which the manifest shares as xdg-config/autostart."""
    if config_home is None:
        env = os.environ.get("XDG_CONFIG_HOME", "")
        if os.environ.get("FLATPAK_ID") or not os.path.isabs(env):
            config_home = Path.home() / ".config"
        else:
            config_home = env
    return Path(config_home) / "autostart" / ENTRY_NAME


def autostart_command() -> list[str]:
    """The command line the entry starts: this same portwatch (which opens the window)."""
    flatpak_id = os.environ.get("FLATPAK_ID")
    if flatpak_id:
        command = ["flatpak", "run", flatpak_id]
    elif getattr(sys, "frozen", False):  # a PyInstaller bundle: its executable is portwatch
        command = [os.path.abspath(sys.executable)]
    else:
        script = Path(sys.executable).parent / "portwatch"
        if script.is_file() and os.access(script, os.X_OK):
            command = [str(script.absolute())]
        else:
            command = [os.path.abspath(sys.executable), "-m", "portwatch"]
    return command


def enable_autostart(config_home: str | os.PathLike[str] | None = None, *,
                     command: Sequence[str] | None = None) -> Path:
    """Write (or rewrite) the autostart entry and return its path.

    command overrides autostart_command(). Raises AutostartError when the entry cannot be
    written; an existing entry is then left as it was."""
    path = autostart_file(config_home)
    text = entry_text(list(command) if command is not None else autostart_command())
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AutostartError(f"cannot write {path}: {exc.strerror or exc}") from exc
    try:
        write_atomic(path, text, mode=0o644)
    except OSError as exc:
        raise AutostartError(f"cannot write {path}: {exc.strerror or exc};"
                             " the old entry (if any) was left as it was") from exc
    log.info("start at login enabled: %s", path)
    return path


def disable_autostart(config_home: str | os.PathLike[str] | None = None) -> bool:
    """Remove the autostart entry. True when there was one to remove."""
    path = autostart_file(config_home)
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise AutostartError(f"cannot remove {path}: {exc.strerror or exc}") from exc
    log.info("start at login disabled: removed %s", path)
    return True


def autostart_enabled(config_home: str | os.PathLike[str] | None = None) -> bool:
    """True when the entry exists and is not switched off (`Hidden=true`, or
    `X-GNOME-Autostart-enabled=false` as GNOME's and KDE's settings write it)."""
    try:
        text = autostart_file(config_home).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    keys = _desktop_entry_keys(text)
    if keys.get("Hidden", "").strip().lower() == "true":
        return False
    return keys.get("X-GNOME-Autostart-enabled", "true").strip().lower() != "false"


def entry_text(command: Sequence[str]) -> str:
    """The autostart desktop entry that runs command."""
    if not command:
        raise ValueError("the autostart command is empty")
    lines = [
        "[Desktop Entry]",
        "Type=Application",
        "Name=portwatch",
        "Comment=Watch for newly opened ports (started at login)",
        f"Exec={exec_line(command)}",
        f"Icon={APP_ID}",
        "Terminal=false",
        "X-GNOME-Autostart-enabled=true",
    ]
    checkout = _checkout_root()
    if checkout is not None and command[1:3] == ["-m", "portwatch"]:
        # python -m portwatch from a checkout finds the package from its working directory
        lines.append(f"Path={_escape_string(str(checkout))}")
    return "\n".join(lines) + "\n"


def exec_line(command: Sequence[str]) -> str:
    """command as a Desktop Entry Exec value: arguments quoted as the spec says, `%` doubled,
    then escaped as a desktop-file string."""
    parts = []
    for arg in command:
        if "\n" in arg or "\r" in arg:
            raise ValueError(f"an Exec argument cannot hold a line break: {arg!r}")
        if any(ch in _RESERVED for ch in arg) or arg == "":
            inner = "".join("\\" + ch if ch in '"`$\\' else ch for ch in arg)
            arg = f'"{inner}"'
        parts.append(arg.replace("%", "%%"))
    return _escape_string(" ".join(parts))


def _escape_string(value: str) -> str:
    """Escapes for a desktop-file string value (backslash first)."""
    return (value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
            .replace("\r", "\\r"))


def _desktop_entry_keys(text: str) -> dict[str, str]:
    keys: dict[str, str] = {}
    group = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            group = line[1:-1]
        elif group == "Desktop Entry" and "=" in line:
            key, value = line.split("=", 1)
            keys[key.strip()] = value.strip()
    return keys


def _checkout_root() -> Path | None:
    """The source checkout portwatch runs from (it holds pyproject.toml), or None when installed."""
    root = Path(__file__).resolve().parents[3]
    return root if (root / "pyproject.toml").is_file() and (root / "portwatch").is_dir() else None
