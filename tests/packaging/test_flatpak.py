"""The Flatpak manifest: the permissions a port monitor needs and no more, dependency wheels
pinned by sha256 for both architectures, and flatpak-builder accepts it. (Building it needs
Flathub, which this machine cannot reach.)"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
FLATPAK = REPO / "packaging" / "flatpak"
MANIFEST = FLATPAK / "io.github.portwatch.portwatch.yml"
APP_ID = "io.github.portwatch.portwatch"


@pytest.fixture(scope="module")
def manifest() -> dict:
    return yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))


def test_identity(manifest):
    assert manifest["app-id"] == APP_ID
    assert manifest["command"] == "portwatch"
    assert manifest["runtime"] == "org.freedesktop.Platform"
    assert manifest["sdk"] == "org.freedesktop.Sdk"


def test_permissions_are_what_a_port_monitor_needs(manifest):
    args = manifest["finish-args"]
    for needed in ("--share=network", "--talk-name=org.freedesktop.Notifications",
                   "--talk-name=org.kde.StatusNotifierWatcher", "--socket=wayland",
                   "--socket=fallback-x11", "--filesystem=xdg-config/autostart:create"):
        assert needed in args, needed
    filesystems = [arg for arg in args if arg.startswith("--filesystem")]
    assert filesystems == ["--filesystem=xdg-config/autostart:create"], filesystems
    assert "--socket=x11" not in args  # fallback-x11 only
    assert not any(arg.startswith(("--device=all", "--talk-name=org.freedesktop.Flatpak"))
                   for arg in args)


def test_the_sandbox_limits_are_stated():
    text = MANIFEST.read_text(encoding="utf-8")
    assert "NOT BUILT HERE" in text
    assert "PID namespace" in text
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "Flatpak" in readme and "PID namespace" in readme


def test_dependency_wheels_are_pinned_for_both_architectures():
    module = json.loads((FLATPAK / "python3-deps.json").read_text(encoding="utf-8"))
    sources = module["sources"]
    for source in sources:
        assert source["type"] == "file"
        assert source["url"].startswith("https://files.pythonhosted.org/")
        assert re.fullmatch(r"[0-9a-f]{64}", source["sha256"]), source
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = {re.split(r"[<>=!~;\s\[]", req, maxsplit=1)[0] for req in project["dependencies"]}
    for arch in ("x86_64", "aarch64"):
        have = {
            source["url"].rsplit("/", 1)[-1].split("-")[0].lower().replace("_", "-")
            for source in sources if arch in source.get("only-arches", [arch])
        }
        missing = {name for name in wanted if name.lower().replace("_", "-") not in have}
        assert not missing, f"{arch}: no wheel for {missing}: run packaging/flatpak/pip-sources.py"


def test_the_portwatch_module_uses_the_shared_install_script(manifest):
    ours = [m for m in manifest["modules"] if isinstance(m, dict) and m["name"] == "portwatch"]
    assert ours
    commands = " ".join(ours[0]["build-commands"])
    assert "packaging/linux/install.sh" in commands
    assert (REPO / "packaging/linux/install.sh").is_file()
    assert "python3-deps.json" in manifest["modules"]


def test_flatpak_builder_accepts_the_manifest():
    if shutil.which("flatpak-builder") is None:
        pytest.skip("flatpak-builder is not installed (apt-get install flatpak-builder)")
    result = subprocess.run(["flatpak-builder", "--show-manifest", MANIFEST.name], cwd=FLATPAK,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["id"] == APP_ID
    assert shown["modules"][0]["name"] == "python3-deps"  # the JSON module file was included
