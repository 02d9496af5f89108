"""The `color_scheme` setting: system, light or dark; anything else is the default, said."""

from __future__ import annotations

from portwatch.core.settings import Settings, load_settings, save_settings


def test_color_scheme_round_trips_and_is_checked(tmp_path):
    path = tmp_path / "settings.yaml"
    assert Settings().color_scheme == "system"
    save_settings(Settings(color_scheme="dark"), path)
    assert load_settings(path) == (Settings(color_scheme="dark"), [])
    path.write_text("color_scheme: Light\n")
    assert load_settings(path)[0].color_scheme == "light"
    path.write_text("color_scheme: purple\n")
    settings, messages = load_settings(path)
    assert settings.color_scheme == "system"
    assert messages == [f"{path}: color_scheme must be one of system, light, dark, not"
                        " 'purple'; using the default 'system'"]
