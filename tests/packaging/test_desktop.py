"""Desktop integration: the .desktop file and the AppStream metainfo validate, use the one app
id everywhere, and packaging/linux/install.sh installs them with the icons under a PREFIX."""

from __future__ import annotations

import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import portwatch

REPO = Path(__file__).resolve().parents[2]
LINUX = REPO / "packaging" / "linux"
APP_ID = "io.github.portwatch.portwatch"
DESKTOP = LINUX / f"{APP_ID}.desktop"
METAINFO = LINUX / f"{APP_ID}.metainfo.xml"
INSTALL = LINUX / "install.sh"


def need(tool: str, package: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed (apt-get install {package})")


def desktop_keys(path: Path) -> dict[str, str]:
    keys = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            keys[key] = value
    return keys


def validate_desktop(path: Path) -> str:
    need("desktop-file-validate", "desktop-file-utils")
    result = subprocess.run(["desktop-file-validate", str(path)], capture_output=True, text=True)
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    assert "error:" not in report and "warning:" not in report, report
    return report


def test_desktop_file_validates():
    report = validate_desktop(DESKTOP)
    # The only remark allowed: System and Network are both main categories, as asked for.
    for line in filter(None, report.splitlines()):
        assert "more than one main category" in line, line


def test_desktop_file_contents():
    keys = desktop_keys(DESKTOP)
    assert keys["Exec"] == "portwatch"
    assert keys["Icon"] == APP_ID
    assert keys["Categories"] == "System;Monitor;Network;"
    assert "port" in keys["Keywords"].split(";")
    assert keys["Terminal"] == "false"


def test_metainfo_validates():
    need("appstreamcli", "appstream")
    result = subprocess.run(
        ["appstreamcli", "validate", "--no-net", "--pedantic", str(METAINFO)],
        capture_output=True, text=True,
    )
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    # appstream 0.16 predates <developer> (AppStream 1.0's replacement for <developer_name>) and
    # reports it as unknown; nothing else may be reported.
    issues = [line for line in report.splitlines() if line[:2] in ("E:", "W:", "I:", "P:")]
    assert all("unknown-tag developer" in line for line in issues), report


def test_metainfo_contents():
    root = ET.parse(METAINFO).getroot()  # noqa: S314 (our own file)
    assert root.get("type") == "desktop-application"
    assert root.findtext("id") == APP_ID
    assert root.findtext("launchable") == DESKTOP.name
    assert root.findtext("metadata_license") == "CC0-1.0"
    assert root.findtext("project_license") == "MIT"
    assert root.findtext("developer/name")
    assert root.find("content_rating").get("type") == "oars-1.1"
    newest = root.find("releases/release")
    assert newest.get("version") == portwatch.__version__
    assert newest.get("date") == "2026-11-23"
    image = root.findtext("screenshots/screenshot/image")
    prefix = "https://raw.githubusercontent.com/portwatch/portwatch/main/"
    assert image.startswith(prefix)
    shot = REPO / image[len(prefix):]
    assert shot.is_file(), "run packaging/screenshots.sh"
    width, height = struct.unpack(">II", shot.read_bytes()[16:24])  # the PNG's IHDR
    element = root.find("screenshots/screenshot/image")
    assert (element.get("width"), element.get("height")) == (str(width), str(height))


def test_the_app_id_is_the_icon_name_and_the_icons_exist():
    assert desktop_keys(DESKTOP)["Icon"] == APP_ID
    for size in ("16x16", "48x48", "256x256"):
        assert (REPO / "resources/icons/hicolor" / size / "apps" / f"{APP_ID}.png").is_file()
    assert (REPO / "resources/icons/hicolor/scalable/apps" / f"{APP_ID}.svg").is_file()


def run_install(*args: str, **env: str) -> subprocess.CompletedProcess:
    result = subprocess.run(["bash", str(INSTALL), *args], capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "HOME": env.pop("HOME", "/nonexistent"),
                                 **env})
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_install_into_a_prefix_and_uninstall(tmp_path):
    prefix = tmp_path / "prefix"
    run_install("--prefix", str(prefix))
    share = prefix / "share"
    desktop = share / "applications" / DESKTOP.name
    assert desktop.read_bytes() == DESKTOP.read_bytes()
    assert (share / "metainfo" / METAINFO.name).read_bytes() == METAINFO.read_bytes()
    for size in ("16x16", "22x22", "24x24", "32x32", "48x48", "64x64", "128x128", "256x256"):
        for name in (APP_ID, f"{APP_ID}-alert", f"{APP_ID}-paused"):
            assert (share / "icons/hicolor" / size / "apps" / f"{name}.png").is_file()
    assert (share / "icons/hicolor/scalable/apps" / f"{APP_ID}.svg").is_file()
    validate_desktop(desktop)

    run_install("--prefix", str(prefix), "--uninstall")
    left = [p for p in share.rglob("*") if p.is_file() and p.name.startswith(APP_ID)]
    assert left == []


def test_install_defaults_to_home_dot_local(tmp_path):
    run_install(HOME=str(tmp_path))
    assert (tmp_path / ".local/share/applications" / DESKTOP.name).is_file()


def test_install_with_an_exec_path_that_needs_quoting(tmp_path):
    prefix = tmp_path / "prefix"
    odd = tmp_path / "my apps" / "it's $HOME\\100%" / "portwatch"
    run_install("--prefix", str(prefix), "--exec", str(odd))
    desktop = prefix / "share/applications" / DESKTOP.name
    validate_desktop(desktop)
    exec_value = desktop_keys(desktop)["Exec"]
    assert exec_value.startswith('"') and exec_value.endswith('"')
    # undo the two escaping levels of the Desktop Entry spec
    unescaped = exec_value[1:-1].replace("\\\\", "\\").replace("%%", "%")
    for ch in '"`$\\':
        unescaped = unescaped.replace("\\" + ch, ch)
    assert unescaped == str(odd)


def test_staged_install_with_destdir_validates_as_a_tree(tmp_path):
    need("appstreamcli", "appstream")
    run_install(DESTDIR=str(tmp_path), PREFIX="/usr")
    assert (tmp_path / "usr/share/applications" / DESKTOP.name).is_file()
    result = subprocess.run(["appstreamcli", "validate-tree", "--no-net", str(tmp_path)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
