#!/usr/bin/env python3
"""Writes python3-deps.json: the Flatpak module that installs portwatch's Python dependencies
from wheels, in the format flatpak-pip-generator produces (one `file` source per wheel, with its
PyPI URL and sha256, binary wheels limited to their architecture).

    python3 packaging/flatpak/pip-sources.py        # needs pip and access to PyPI

It asks pip (`install --dry-run --report`, nothing is installed) to resolve the dependencies in
pyproject.toml, plus the build tools portwatch's own module needs, for the Python and glibc of the
Flatpak runtime, once per architecture. Re-run it when pyproject.toml's dependencies change or
to move to newer releases, and commit the result.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
OUT = HERE / "python3-deps.json"

# org.freedesktop.Platform 24.08: Python 3.12, glibc 2.40.
PYTHON_VERSION = "3.12"
ABI = "cp312"
GLIBC_TAGS = ("2_17", "2_27", "2_28", "2_31", "2_34", "2_35", "2_36", "2_38", "2_39", "2_40")
ARCHES = ("x86_64", "aarch64")
BUILD_TOOLS = ["setuptools>=77", "wheel"]  # portwatch's [build-system], for --no-build-isolation


def requirements() -> list[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return [req.split(";")[0].strip() for req in project["dependencies"]] + BUILD_TOOLS


def resolve(arch: str, reqs: list[str]) -> list[dict]:
    platforms = [f"--platform=manylinux_{tag}_{arch}" for tag in GLIBC_TAGS]
    platforms.append(f"--platform=manylinux2014_{arch}")
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        # --isolated: ignore local pip configuration (mirrors, find-links); ask PyPI itself.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--isolated", "--quiet", "--dry-run",
             "--ignore-installed", "--only-binary=:all:", f"--python-version={PYTHON_VERSION}",
             "--implementation=cp", f"--abi={ABI}", "--abi=abi3", "--abi=none", *platforms,
             f"--target={tmp}/target", f"--report={report}", *reqs],
            check=True, env=env,
        )
        return json.loads(report.read_text())["install"]


def main() -> int:
    reqs = requirements()
    sources: dict[str, dict] = {}
    arches_of: dict[str, list[str]] = {}
    for arch in ARCHES:
        for item in resolve(arch, reqs):
            info = item["download_info"]
            url = info["url"]
            sources[url] = {"type": "file", "url": url,
                            "sha256": info["archive_info"]["hashes"]["sha256"]}
            arches_of.setdefault(url, []).append(arch)
    for url, source in sources.items():
        if len(arches_of[url]) < len(ARCHES):
            source["only-arches"] = arches_of[url]
    names = " ".join(f'"{req}"' for req in reqs)
    module = {
        "name": "python3-deps",
        "buildsystem": "simple",
        "build-commands": [
            "pip3 install --verbose --exists-action=i --no-index --find-links=\"file://${PWD}\""
            f" --prefix=${{FLATPAK_DEST}} {names} --no-build-isolation"
        ],
        "sources": sorted(sources.values(), key=lambda s: s["url"].rsplit("/", 1)[-1]),
        "cleanup": [
            "/bin/pyside6-*", "/lib/python*/site-packages/PySide6/Qt/qml",
            "/lib/python*/site-packages/PySide6/Qt/plugins/designer",
            "/lib/python*/site-packages/PySide6/*.pyi",
            "/lib/python*/site-packages/pyqtgraph/examples",
        ],
    }
    OUT.write_text(json.dumps(module, indent=4) + "\n", encoding="utf-8")
    print(f"wrote {OUT} ({len(sources)} wheels for {', '.join(ARCHES)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
