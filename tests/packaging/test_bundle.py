"""The PyInstaller bundle works frozen: its command line answers from the bundled catalog, it
scans, and its window starts (offscreen) and keeps running.

Which bundle is tested (PORTWATCH_BUNDLE):
  unset     one built for the tests under build/test-bundle/ by packaging/pyinstaller/build.sh:
            ≈70-80 s on 2 cores when the sources changed, reused (≈15 s of tests) while they
            have not; a lock keeps concurrent runs in one checkout from colliding
  skip      skip these tests (quick local runs)
  dist      dist/portwatch/portwatch as `make bundle` left it (skips when there is none)
  a path    that bundle's executable
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.metadata
import json
import os
import re
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "packaging" / "pyinstaller" / "build.sh"
INPUTS = ("portwatch", "data", "resources", "packaging/pyinstaller", "packaging/build-wheel.sh",
          "pyproject.toml")

pytestmark = pytest.mark.slow


def shipped_files() -> list[Path]:
    result = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard",
         "--", *INPUTS], capture_output=True, check=True)
    names = [name for name in result.stdout.decode().split("\0") if name]
    return sorted(REPO / name for name in names if (REPO / name).is_file())


def inputs_digest() -> str:
    """What the bundle is built from: the shipped sources and the tools' versions."""
    digest = hashlib.sha256(sys.version.encode())
    for dist in ("PySide6-Essentials", "pyinstaller", "numpy", "pyqtgraph", "psutil"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            digest.update(f"{dist}={importlib.metadata.version(dist)}".encode())
    for path in shipped_files():
        digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def newest_source_mtime() -> float:
    return max(path.stat().st_mtime for path in shipped_files())


@pytest.fixture(scope="module")
def bundle() -> Iterator[Path]:
    choice = os.environ.get("PORTWATCH_BUNDLE", "")
    if choice == "skip":
        pytest.skip("PORTWATCH_BUNDLE=skip")
    if not choice:
        yield from built_for_tests()
        return
    exe = REPO / "dist" / "portwatch" / "portwatch" if choice == "dist" else Path(choice)
    if not exe.is_file():
        pytest.skip(f"no bundle at {exe}: run `make bundle` first")
    if choice == "dist" and exe.stat().st_mtime < newest_source_mtime():
        warnings.warn("dist/portwatch is older than the sources: testing a stale bundle"
                      " (run `make bundle`)", stacklevel=1)
    yield exe


def built_for_tests() -> Iterator[Path]:
    """A bundle under build/test-bundle/, rebuilt only when its inputs changed; a lock keeps
    concurrent test runs in the same checkout from building or replacing it under each other."""
    root = REPO / "build" / "test-bundle"
    root.mkdir(parents=True, exist_ok=True)
    exe = root / "dist" / "portwatch" / "portwatch"
    stamp = root / "inputs.sha256"
    with open(root / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        digest = inputs_digest()
        if not exe.is_file() or not stamp.is_file() or stamp.read_text() != digest:
            stamp.unlink(missing_ok=True)
            env = dict(os.environ, BUNDLE_DIST=str(root / "dist"),
                       BUNDLE_STAGE=str(root / "stage"))
            result = subprocess.run(["bash", str(BUILD)], env=env, capture_output=True,
                                    text=True, timeout=900)
            assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
            stamp.write_text(digest)
        yield exe


@pytest.fixture
def run_env(tmp_path) -> dict[str, str]:
    """Outside the checkout, with temp config/data dirs and no Python paths leaking in."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(HOME=str(tmp_path / "home"), XDG_CONFIG_HOME=str(tmp_path / "home/.config"),
               XDG_DATA_HOME=str(tmp_path / "home/.local/share"),
               XDG_CACHE_HOME=str(tmp_path / "home/.cache"),
               XDG_RUNTIME_DIR=str(tmp_path / "runtime"))
    (tmp_path / "runtime").mkdir(mode=0o700)
    return env


def run(exe: Path, *args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    result = subprocess.run([str(exe), *args], env=env, cwd=cwd, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    return result


def test_version(bundle, run_env, tmp_path):
    from portwatch import __version__

    out = run(bundle, "--version", env=run_env, cwd=tmp_path).stdout
    assert out.strip() == f"portwatch {__version__}"


def test_lookup_answers_from_the_bundled_catalog(bundle, run_env, tmp_path):
    if "lookup" not in run(bundle, "--help", env=run_env, cwd=tmp_path).stdout:
        pytest.skip("this bundle has no lookup command")
    entries = json.loads(run(bundle, "lookup", "3141", "--json", env=run_env, cwd=tmp_path).stdout)
    assert entries and all(entry["port"] == 3141 for entry in entries)
    assert any(entry.get("service") for entry in entries)  # registry.json was found frozen
    assert any("devpi" in " ".join(entry.get("uses") or []) for entry in entries)  # curated.json
    text = run(bundle, "lookup", "3141", env=run_env, cwd=tmp_path).stdout
    assert "3141" in text


def test_list_scans_and_sees_a_listener_of_ours(bundle, run_env, tmp_path, listener_factory):
    child = listener_factory("tcp", "127.0.0.1", 0)
    rows = json.loads(run(bundle, "list", "--json", env=run_env, cwd=tmp_path).stdout)
    ours = [row for row in rows if row["port"] == child.port and row["proto"] == "tcp"]
    assert ours, f"port {child.port} not in {rows}"
    assert ours[0]["pid"] == child.pid
    assert ours[0]["exposure"] == "loopback"


def test_the_window_starts_offscreen_and_keeps_running(bundle, run_env, tmp_path):
    env = dict(run_env, QT_QPA_PLATFORM="offscreen")
    log = tmp_path / "gui.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([str(bundle), "--debug"], env=env, cwd=tmp_path, stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        time.sleep(3)
        alive = proc.poll() is None
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)  # our own child, by its PID
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(10)
    output = log.read_text(errors="replace")
    assert alive, f"the window exited within 3 s:\n{output}"
    assert "Traceback" not in output, output
    assert "missing or unreadable" not in output, output  # the SVG icons load frozen
    assert "is not available" not in output, output  # no part of the window failed to load


def test_the_bundle_has_the_data_icons_and_only_the_qt_it_needs(bundle):
    internal = bundle.parent / "_internal"
    for name in ("registry.json", "curated.json", "SOURCES"):
        assert (internal / "portwatch" / "data" / name).is_file(), name
    assert list((internal / "portwatch" / "data" / "curated").glob("*.yaml"))
    for name in ("portwatch.svg", "portwatch-alert.svg", "portwatch-paused.svg"):
        assert (internal / "portwatch" / "resources" / "icons" / name).is_file(), name
    qt = internal / "PySide6"
    bundled = {path.name.split(".")[0] for path in qt.glob("Qt*.abi3.so")}
    imported = {"QtCore", "QtGui", "QtWidgets", "QtSvg", "QtDBus"}
    for path in (REPO / "portwatch").rglob("*.py"):
        imported |= set(re.findall(r"PySide6\.(Qt\w+)", path.read_text(encoding="utf-8")))
    assert imported <= bundled, f"missing from the bundle: {sorted(imported - bundled)}"
    extra = bundled - imported - {"QtOpenGL", "QtOpenGLWidgets"}  # pyqtgraph loads these
    assert not extra, f"Qt modules portwatch does not use: {sorted(extra)}"
    plugins = qt / "Qt" / "plugins"
    assert (plugins / "iconengines" / "libqsvgicon.so").is_file()  # QIcon("….svg")
    for platform in ("libqxcb.so", "libqwayland.so", "libqoffscreen.so"):
        assert (plugins / "platforms" / platform).is_file(), platform
