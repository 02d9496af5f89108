"""Packaging tests: the wheel, the icons, the desktop files and the PyInstaller bundle."""

from __future__ import annotations


def pytest_configure(config) -> None:
    config.addinivalue_line(
        "markers", "slow: takes tens of seconds (builds and installs a wheel, runs a bundle)"
    )
