"""Every Python package under portwatch/ is named in pyproject.toml's package list: one left
out is silently missing from the wheel and the bundle (portwatch.core.channels once was)."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_every_package_is_in_pyproject():
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"]) - set(config.get("package-dir", {}))
    on_disk = {".".join(init.parent.relative_to(REPO).parts)
               for init in (REPO / "portwatch").rglob("__init__.py")}
    assert on_disk - listed == set(), "add these to [tool.setuptools] packages"
    assert listed - on_disk == set(), "these are listed but do not exist"
