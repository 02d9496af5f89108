"""Where portwatch keeps the user's files: settings, catalog additions and history.

platformdirs chooses the platform's locations; PORTWATCH_CONFIG_DIR and PORTWATCH_DATA_DIR
override them (the tests always do, so they never touch the real home directory).
"""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "portwatch"


def config_dir() -> Path:
    """Directory of settings.yaml, catalog.d/ and window-state.json."""
    override = os.environ.get("PORTWATCH_CONFIG_DIR")
    if override:
        return Path(override)
    import platformdirs  # only here: 5-7 ms of a `list` that has its folders from the environment

    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def data_dir() -> Path:
    """Directory of history.sqlite3."""
    override = os.environ.get("PORTWATCH_DATA_DIR")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def settings_file() -> Path:
    return config_dir() / "settings.yaml"


def window_state_file() -> Path:
    """The window's size, splitters and columns (written by the GUI; not a settings file)."""
    return config_dir() / "window-state.json"


def user_catalog_dir() -> Path:
    return config_dir() / "catalog.d"


def history_file() -> Path:
    return data_dir() / "history.sqlite3"
