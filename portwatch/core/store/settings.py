"""The user's settings: a frozen `Settings` value, loaded from and saved to a YAML file.

Loading never fails and never writes: a missing file gives the defaults; a file that is not
valid YAML, a value of the wrong type or out of range gives the default for that field plus a
message naming the file and the field; unknown keys are kept but warned about. Saving is atomic
(a temp file in the same directory, fsync, os.replace): it raises `SettingsError` rather than
leave a truncated file, keeps keys it does not know, and never replaces a file that failed to
parse without first keeping a copy of it (settings.yaml.broken-<time>). A settings file that
is a symbolic link stays one (the file it points to is updated); a directory or a link that
cannot be followed is never replaced.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from portwatch.core.files import paths
from portwatch.core.files.atomic import write_atomic
from portwatch.core.files.private import make_private_dir
from portwatch.core.files.yamlfile import YamlFileError, YamlFileMissing, read_yaml

log = logging.getLogger(__name__)

MAX_SETTINGS_BYTES = 256 * 1024


class SettingsError(OSError):
    """The settings file could not be written; the message says which file and why."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Every user setting with its default. Passed into constructors; never mutated."""

    poll_interval: float = 2.0  # seconds between scans
    start_minimised: bool = False  # start in the tray (when there is one)
    start_at_login: bool = False
    notifications: bool = True  # desktop notifications for new listeners
    alert_min_polls: int = 1  # a new listener must persist this many extra polls before alerting
    alert_ephemeral_udp: bool = False  # alert for UDP sockets on ephemeral ports too
    alert_coalesce: int = 5  # this many new listeners in one poll become one summary alert
    alert_rate_limit: float = 60.0  # seconds between repeats of similar alerts
    # alert when a listener gets its first connection from another machine (off by default)
    alert_first_remote: bool = False
    history_retention_days: int = 90
    history_max_mb: int = 500  # the history file's size budget: the oldest events go first
    color_scheme: str = "system"  # the window's colours: "system" (the desktop's), "light", "dark"
    hosts: tuple[str, ...] = ()  # other machines the window reads over ssh (File > Add host…)
    # hosts of `hosts` whose new listeners do not alert (File > Alerts from host); their
    # listeners still show in the table and are recorded in the history
    hosts_without_alerts: tuple[str, ...] = ()


COLOR_SCHEMES = ("system", "light", "dark")


@dataclass(frozen=True, slots=True)
class _Rule:
    kind: type  # bool, int, float or str (one of `choices`)
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.kind is tuple:
            return "a list of ssh destinations (USER@HOST, HOST or an ssh_config alias)"
        if self.kind is str:
            return "one of " + ", ".join(self.choices)
        noun = {bool: "true or false", int: "a whole number", float: "a number"}[self.kind]
        if self.low is not None and self.high is not None:
            return f"{noun} from {_num(self.low)} to {_num(self.high)}"
        if self.low is not None:
            return f"{noun} of at least {_num(self.low)}"
        return noun

    def check(self, value: Any) -> Any:
        """The value converted to the field's type, or ValueError."""
        if self.kind is tuple:  # the hosts: each one as ssh takes it, never an option
            from portwatch.core.probe.remote import check_host

            if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
                raise ValueError
            return tuple(dict.fromkeys(check_host(item) for item in value))
        if self.kind is str:
            if not isinstance(value, str) or value.strip().lower() not in self.choices:
                raise ValueError
            return value.strip().lower()
        if self.kind is bool:
            if not isinstance(value, bool):
                raise ValueError
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError
        if self.kind is int:
            if isinstance(value, float):
                if not value.is_integer():
                    raise ValueError
                value = int(value)
        else:
            value = float(value)
            if not math.isfinite(value):
                raise ValueError
        if (self.low is not None and value < self.low) or (
            self.high is not None and value > self.high
        ):
            raise ValueError
        return value


RULES: dict[str, _Rule] = {
    "poll_interval": _Rule(float, 0.5, 60.0),
    "start_minimised": _Rule(bool),
    "start_at_login": _Rule(bool),
    "notifications": _Rule(bool),
    "alert_min_polls": _Rule(int, 0, 100),
    "alert_ephemeral_udp": _Rule(bool),
    "alert_coalesce": _Rule(int, 1, 1000),
    "alert_rate_limit": _Rule(float, 0.0, 86400.0),
    "alert_first_remote": _Rule(bool),
    "history_retention_days": _Rule(int, 1, 3650),
    "history_max_mb": _Rule(int, 10, 1_000_000),
    "color_scheme": _Rule(str, choices=COLOR_SCHEMES),
    "hosts": _Rule(tuple),
    "hosts_without_alerts": _Rule(tuple),
}
assert set(RULES) == {f.name for f in dataclasses.fields(Settings)}, "a field without a rule"
# Keys of settings.yaml that other modules read and check themselves (saving keeps them as they
# are): `channels`, the alert channels (core/channels/config.py).
OTHER_KEYS = frozenset({"channels"})


def _num(value: float) -> str:
    return f"{value:g}"


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"


def load_settings(path: Path | None = None) -> tuple[Settings, list[str]]:
    """The settings in `path` (default: the user's settings.yaml) and messages for the user
    about anything that was ignored. Never raises for the file's content and never writes."""
    path = Path(path) if path is not None else paths.settings_file()
    data, problem = _read_mapping(path)
    if problem:
        return Settings(), [problem]
    messages: list[str] = []
    values: dict[str, Any] = {}
    defaults = Settings()
    for key, value in data.items():
        rule = RULES.get(key) if isinstance(key, str) else None
        if key in OTHER_KEYS:
            continue
        if rule is None:
            messages.append(f"{path}: unknown setting {_show(key)} is ignored"
                            f" (known settings: {', '.join(RULES)})")
            continue
        try:
            values[key] = rule.check(value)
        except ValueError:
            messages.append(
                f"{path}: {key} must be {rule.describe()}, not {_show(value)};"
                f" using the default {_show(getattr(defaults, key))}"
            )
    for message in messages:
        log.warning("%s", message)
    return dataclasses.replace(defaults, **values), messages


def read_settings_mapping(path: Path) -> tuple[dict[Any, Any], str | None]:
    """The settings file's top-level mapping, or ({}, message) when it cannot be used."""
    return _read_mapping(path)


def _read_mapping(path: Path) -> tuple[dict[Any, Any], str | None]:
    """The file's top-level mapping, or ({}, message) when it cannot be used at all."""
    try:
        data = read_yaml(path, kind="settings file", max_bytes=MAX_SETTINGS_BYTES)
    except YamlFileMissing:
        return {}, None
    except YamlFileError as exc:
        return {}, f"{path}: {exc}; using the default settings"
    if data is None:  # an empty file
        return {}, None
    if not isinstance(data, dict):
        return {}, (f"{path}: should hold settings as `name: value` lines, but holds a"
                    f" {type(data).__name__}; using the default settings")
    return data, None


def _save_target(path: Path) -> Path:
    """The file a save really replaces: `path`, or the file it links to (a settings file kept
    in a dotfiles repository stays a link, and the file it points to is updated). Raises
    SettingsError for what must not be replaced (a directory, a link that cannot be followed)
    and when the folder cannot be looked into."""
    try:
        return _follow(path)
    except OSError as exc:
        if isinstance(exc, SettingsError):
            raise
        raise SettingsError(f"cannot save the settings to {path}: {exc.strerror or exc};"
                            " the file was left as it was") from exc


def _follow(path: Path) -> Path:
    if path.is_symlink():
        try:
            target = path.resolve(strict=True)
        except (OSError, RuntimeError) as exc:  # a loop, or a link to nothing
            reason = getattr(exc, "strerror", None) or str(exc)
            raise SettingsError(f"cannot save the settings to {path}: it is a symbolic link"
                                f" that cannot be followed ({reason}); it was left as it"
                                " is") from exc
        path = target
    if path.is_dir():
        raise SettingsError(f"cannot save the settings to {path}: it is a directory, not a"
                            " file; it was left as it is")
    return path


def save_settings(settings: Settings, path: Path | None = None) -> None:
    """Write `settings` to `path` atomically. Keys in the existing file that portwatch does not
    know are kept. A file that did not parse is first copied to <name>.broken-<time>.
    Raises SettingsError (naming the file and the reason) when it cannot be written; the old
    file is then left as it was."""
    import yaml

    path = _save_target(Path(path) if path is not None else paths.settings_file())
    existing, problem = _read_mapping(path)
    if problem and os.path.lexists(path):
        _keep_copy(path)
    document = {key: value for key, value in existing.items()
                if isinstance(key, str) and key not in RULES}
    document.update({key: list(value) if isinstance(value, tuple) else value
                     for key, value in dataclasses.asdict(settings).items()})
    text = ("# portwatch settings; see the README for what each one does.\n"
            + yaml.safe_dump(document, sort_keys=False, allow_unicode=True))
    try:
        make_private_dir(path.parent, "settings folder")
        write_atomic(path, text, new_mode=0o600)
    except OSError as exc:
        raise SettingsError(f"cannot save the settings to {path}: {exc.strerror or exc};"
                            " the file was left as it was") from exc
    log.debug("settings saved to %s", path)


def _keep_copy(path: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    copy = path.with_name(f"{path.name}.broken-{stamp}")
    counter = 1
    while copy.exists():
        copy = path.with_name(f"{path.name}.broken-{stamp}-{counter}")
        counter += 1
    try:
        shutil.copy2(path, copy)
    except OSError as exc:
        raise SettingsError(f"{path} could not be parsed and a copy of it could not be kept"
                            f" ({exc.strerror or exc}); it was not overwritten") from exc
    log.warning("%s could not be parsed; kept a copy as %s", path, copy)
    return copy


