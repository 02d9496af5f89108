"""Packaging tests: the wheel, the icons, the desktop files and the PyInstaller bundle."""

from __future__ import annotations


