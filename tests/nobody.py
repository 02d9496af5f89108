"""Running code as the unprivileged user `nobody`, for the tests that check what portwatch
reports without privileges (root's listeners with hidden owners, read-only folders).

Debian's /usr/bin/python3 with python3-psutil is the interpreter: the pyenv one lives under
/root, mode 0700. The package is copied where nobody can read it, since the checkout may sit
under /root too. The `nobody_copy` fixture (tests/conftest.py) skips with the reason where this
is not possible.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NOBODY_PYTHON = "/usr/bin/python3"  # Debian's, with python3-psutil: nobody can run it


def nobody_skip_reason() -> str | None:
    """Why code cannot be run as `nobody` here, or None when it can."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "needs root to run code as the unprivileged user nobody"
    if shutil.which("runuser") is None:
        return "needs runuser (util-linux)"
    if not os.path.exists(NOBODY_PYTHON):
        return f"needs {NOBODY_PYTHON} (Debian's python3) that nobody can run"
    probe = subprocess.run([NOBODY_PYTHON, "-c", "import psutil"], capture_output=True)
    if probe.returncode != 0:
        return f"needs psutil for {NOBODY_PYTHON} (Debian: python3-psutil)"
    return None


@contextlib.contextmanager
def nobody_package() -> Iterator[Path]:
    """A copy of the portwatch package (core and commands, not the GUI) that nobody can read,
    in a directory nobody can enter (the checkout may sit under /root, mode 0700)."""
    with tempfile.TemporaryDirectory(prefix="portwatch-nobody-") as tmp:
        code = Path(tmp)
        shutil.copytree(REPO / "portwatch", code / "portwatch",
                        ignore=shutil.ignore_patterns("__pycache__", "gui"))
        shutil.copytree(REPO / "data", code / "data",  # the catalog, as a checkout finds it
                        ignore=shutil.ignore_patterns("__pycache__", "curated", "*.py"))
        import platformdirs  # pure Python; Debian's python3 may lack it

        shutil.copytree(Path(platformdirs.__file__).parent, code / "platformdirs",
                        ignore=shutil.ignore_patterns("__pycache__"))
        for path in [code, *code.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        yield code


def run_as_nobody(code_dir: Path, args: list[str], env: dict[str, str] | None = None,
                  timeout: float = 120) -> subprocess.CompletedProcess:
    """Run NOBODY_PYTHON with `args` as nobody, with the copied package first on its path."""
    environment = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(code_dir), "LANG": "C.UTF-8",
                   "HOME": "/nonexistent", **(env or {})}
    return subprocess.run(
        ["runuser", "-u", "nobody", "--", "/usr/bin/env", "-i",
         *(f"{key}={value}" for key, value in environment.items()), NOBODY_PYTHON, *args],
        capture_output=True, text=True, timeout=timeout, cwd="/",
    )
