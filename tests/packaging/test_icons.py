"""The app icons: three SVGs drawn for portwatch and their committed PNG renderings under the
hicolor layout, named by the app id (packaging/linux/build-icons.sh makes them)."""

from __future__ import annotations

import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ICONS = REPO / "resources" / "icons"
APP_ID = "io.github.portwatch.portwatch"
SIZES = (16, 22, 24, 32, 48, 64, 128, 256)
VARIANTS = {"portwatch": APP_ID, "portwatch-alert": f"{APP_ID}-alert",
            "portwatch-paused": f"{APP_ID}-paused"}


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", header[16:24])


@pytest.mark.parametrize("source", sorted(VARIANTS))
def test_svg_is_square_and_valid(source):
    root = ET.parse(ICONS / f"{source}.svg").getroot()  # noqa: S314 (our own files)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("viewBox") == "0 0 128 128"


@pytest.mark.parametrize("source", sorted(VARIANTS))
def test_qt_renders_the_svg(qapp, source):
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(str(ICONS / f"{source}.svg"))
    assert renderer.isValid()
    image = QImage(64, 64, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    renderer.render(painter)
    painter.end()
    assert image.pixelColor(32, 32).alpha() == 255  # the middle of the eye is drawn
    assert image.pixelColor(0, 63).alpha() == 0  # rounded corners stay transparent


@pytest.mark.parametrize("source,name", sorted(VARIANTS.items()))
def test_every_size_is_rendered_under_the_app_id(source, name):
    for size in SIZES:
        png = ICONS / "hicolor" / f"{size}x{size}" / "apps" / f"{name}.png"
        assert png.is_file(), f"missing {png.relative_to(REPO)}: run `make icons`"
        assert png_size(png) == (size, size)
    scalable = ICONS / "hicolor" / "scalable" / "apps" / f"{name}.svg"
    assert scalable.read_bytes() == (ICONS / f"{source}.svg").read_bytes(), "run `make icons`"


@pytest.mark.skipif(shutil.which("rsvg-convert") is None, reason="rsvg-convert (librsvg2-bin)")
@pytest.mark.parametrize("size", (16, 48, 256))
def test_committed_pngs_match_their_svg(qapp, tmp_path, size):
    """Catches an SVG edited without re-running `make icons` (compares pixels, not bytes, so
    another librsvg version does not matter)."""
    from PySide6.QtGui import QImage

    for source, name in VARIANTS.items():
        fresh = tmp_path / f"{name}-{size}.png"
        subprocess.run(["rsvg-convert", "-w", str(size), "-h", str(size), "-o", str(fresh),
                        str(ICONS / f"{source}.svg")], check=True)
        committed = ICONS / "hicolor" / f"{size}x{size}" / "apps" / f"{name}.png"
        a = QImage(str(fresh)).convertToFormat(QImage.Format.Format_ARGB32)
        b = QImage(str(committed)).convertToFormat(QImage.Format.Format_ARGB32)
        worst = max(
            abs(ca - cb)
            for y in range(0, size, max(1, size // 32))
            for x in range(0, size, max(1, size // 32))
            for ca, cb in zip(a.pixelColor(x, y).getRgb(), b.pixelColor(x, y).getRgb(),
                              strict=True)
        )
        assert worst <= 24, f"{committed.relative_to(REPO)} is stale: run `make icons`"
