"""Settings: defaults, validation with clear messages, atomic save, broken files kept."""

from __future__ import annotations

import dataclasses
import os

import pytest
import yaml

from portwatch.core.files.paths import settings_file
from portwatch.core.store import settings as settings_module
from portwatch.core.store.settings import Settings, SettingsError, load_settings, save_settings


def test_defaults_have_every_field_others_rely_on():
    s = Settings()
    assert s.poll_interval == 2.0
    assert s.start_minimised is False
    assert s.start_at_login is False
    assert s.notifications is True
    assert s.alert_min_polls == 1
    assert s.alert_ephemeral_udp is False
    assert s.alert_coalesce == 5
    assert s.alert_rate_limit == 60.0
    assert s.history_retention_days == 90
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.poll_interval = 5  # type: ignore[misc]


def test_missing_file_gives_defaults_and_creates_nothing(tmp_path):
    path = tmp_path / "settings.yaml"
    loaded, messages = load_settings(path)
    assert loaded == Settings()
    assert messages == []
    assert not path.exists()


def test_default_path_is_inside_the_test_config_dir(isolated_dirs):
    config, _ = isolated_dirs
    save_settings(Settings(poll_interval=3.0))
    assert settings_file() == config / "settings.yaml"
    assert load_settings()[0].poll_interval == 3.0


def test_round_trip(tmp_path):
    path = tmp_path / "settings.yaml"
    wanted = Settings(poll_interval=0.5, start_minimised=True, notifications=False,
                      alert_min_polls=3, alert_coalesce=10, alert_rate_limit=5.5,
                      history_retention_days=7, start_at_login=True, alert_ephemeral_udp=True)
    save_settings(wanted, path)
    loaded, messages = load_settings(path)
    assert loaded == wanted
    assert messages == []


def test_empty_file_is_defaults_without_complaint(tmp_path):
    path = tmp_path / "settings.yaml"
    path.write_text("# nothing yet\n")
    assert load_settings(path) == (Settings(), [])


def test_bad_values_fall_back_per_field_with_file_and_field_named(tmp_path):
    path = tmp_path / "settings.yaml"
    path.write_text(
        "poll_interval: 0.1\n"          # below 0.5
        "notifications: 'yes please'\n"  # not a bool
        "alert_coalesce: 7\n"            # good
        "history_retention_days: 2.5\n"  # not whole
        "alert_min_polls: true\n"        # bool is not a number
        "alert_rate_limit: .nan\n"       # not finite
    )
    before = path.read_text()
    loaded, messages = load_settings(path)
    assert loaded.poll_interval == 2.0
    assert loaded.notifications is True
    assert loaded.alert_coalesce == 7
    assert loaded.history_retention_days == 90
    assert loaded.alert_min_polls == 1
    assert loaded.alert_rate_limit == 60.0
    assert len(messages) == 5
    for field in ("poll_interval", "notifications", "history_retention_days", "alert_min_polls",
                  "alert_rate_limit"):
        assert any(str(path) in m and field in m for m in messages), field
    assert any("from 0.5 to 60" in m and "0.1" in m for m in messages)
    assert path.read_text() == before  # loading never rewrites the user's file


def test_integers_are_accepted_for_float_fields(tmp_path):
    path = tmp_path / "settings.yaml"
    path.write_text("poll_interval: 5\nalert_coalesce: 3.0\n")
    loaded, messages = load_settings(path)
    assert loaded.poll_interval == 5.0 and isinstance(loaded.poll_interval, float)
    assert loaded.alert_coalesce == 3 and isinstance(loaded.alert_coalesce, int)
    assert messages == []


def test_unknown_keys_are_warned_and_kept_on_save(tmp_path):
    path = tmp_path / "settings.yaml"
    path.write_text("poll_interval: 4\nfuture_feature: 42\n")
    loaded, messages = load_settings(path)
    assert loaded.poll_interval == 4.0
    assert len(messages) == 1 and "future_feature" in messages[0] and str(path) in messages[0]
    save_settings(dataclasses.replace(loaded, poll_interval=6.0), path)
    saved = yaml.safe_load(path.read_text())
    assert saved["future_feature"] == 42
    assert saved["poll_interval"] == 6.0


@pytest.mark.parametrize("text", ["poll_interval: [1, 2\n", "key: value: other\n", "\tfoo: 1\n"])
def test_broken_yaml_gives_defaults_and_a_message(tmp_path, text):
    path = tmp_path / "settings.yaml"
    path.write_text(text)
    loaded, messages = load_settings(path)
    assert loaded == Settings()
    assert len(messages) == 1
    assert str(path) in messages[0] and "not valid YAML" in messages[0]
    assert path.read_text() == text


def test_not_a_mapping(tmp_path):
    path = tmp_path / "settings.yaml"
    path.write_text("- 1\n- 2\n")
    loaded, messages = load_settings(path)
    assert loaded == Settings()
    assert "list" in messages[0] and str(path) in messages[0]


def test_not_utf8_and_directory(tmp_path):
    path = tmp_path / "settings.yaml"
    path.write_bytes(b"poll_interval: \xff\xfe\n")
    assert "UTF-8" in load_settings(path)[1][0]
    folder = tmp_path / "dir.yaml"
    folder.mkdir()
    loaded, messages = load_settings(folder)
    assert loaded == Settings() and "directory" in messages[0]


def test_saving_over_a_broken_file_keeps_a_copy_first(tmp_path):
    path = tmp_path / "settings.yaml"
    broken = "poll_interval: [oops\n"
    path.write_text(broken)
    save_settings(Settings(poll_interval=9.0), path)
    copies = list(tmp_path.glob("settings.yaml.broken-*"))
    assert len(copies) == 1
    assert copies[0].read_text() == broken
    assert load_settings(path) == (Settings(poll_interval=9.0), [])


def test_save_is_atomic_and_refuses_rather_than_truncating(tmp_path, monkeypatch):
    path = tmp_path / "own" / "settings.yaml"
    save_settings(Settings(poll_interval=3.0), path)
    before = path.read_text()

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(settings_module.os, "fsync", disk_full)
    with pytest.raises(SettingsError) as caught:
        save_settings(Settings(poll_interval=7.0), path)
    assert str(path) in str(caught.value) and "No space left" in str(caught.value)
    assert path.read_text() == before
    assert [p.name for p in path.parent.iterdir()] == ["settings.yaml"]  # no temp file left behind


def test_save_into_an_unwritable_place_raises_a_clear_error(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    with pytest.raises(SettingsError) as caught:
        save_settings(Settings(), blocker / "settings.yaml")
    assert "cannot save the settings" in str(caught.value)


def test_save_keeps_the_file_mode(tmp_path):
    path = tmp_path / "settings.yaml"
    save_settings(Settings(), path)
    os.chmod(path, 0o600)
    save_settings(Settings(poll_interval=4.0), path)
    assert os.stat(path).st_mode & 0o777 == 0o600
