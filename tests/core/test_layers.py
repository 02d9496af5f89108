"""The layers hold: portwatch.core imports no Qt and nothing of the command line or the GUI, and
only the probe package talks to the OS through psutil or /proc.

Checked twice: by importing every module under portwatch/core in a fresh interpreter (what
actually loads), and by reading every module's source (an import inside a function, which
loads only when called, counts too).
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "portwatch"
CORE = PACKAGE / "core"
PROBE = CORE / "probe"
FORBIDDEN_IN_CORE = ("PySide6", "shiboken6", "pyqtgraph", "portwatch.cli", "portwatch.commands",
                     "portwatch.gui")


def imported_names(path: Path) -> set[str]:
    """Every module `path` imports, at the top or inside a function."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def core_modules() -> list[Path]:
    modules = sorted(CORE.rglob("*.py"))
    assert len(modules) > 30, modules  # the walk found the sub-packages
    return modules


def test_core_does_not_import_qt():
    code = textwrap.dedent(
        """
        import importlib, pkgutil, sys
        import portwatch.core
        for mod in pkgutil.walk_packages(portwatch.core.__path__, "portwatch.core."):
            importlib.import_module(mod.name)
        loaded = sorted(m for m in sys.modules if m.startswith("portwatch.core."))
        bad = sorted(m for m in sys.modules if m.startswith(tuple(sys.argv[1:])))
        import portwatch.cli, portwatch.commands.listing
        bad += sorted(m for m in sys.modules if m.startswith(("PySide6", "shiboken6", "pyqtgraph")))
        print(len(loaded))
        print(",".join(bad))
        """
    )
    result = subprocess.run([sys.executable, "-c", code, *FORBIDDEN_IN_CORE],
                            capture_output=True, text=True,
                            cwd=REPO, timeout=60)
    assert result.returncode == 0, result.stderr
    loaded, bad = result.stdout.split("\n")[:2]
    assert int(loaded) >= len(core_modules()) - 1  # every module (the root __init__ aside)
    assert bad.strip() == ""


def test_no_core_module_imports_cli_commands_gui_or_qt_even_lazily():
    offenders = {
        str(path.relative_to(REPO)): sorted(
            name for name in imported_names(path)
            if name.startswith(FORBIDDEN_IN_CORE)
        )
        for path in core_modules()
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_only_the_probe_imports_psutil_or_reads_proc():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.is_relative_to(PROBE):
            continue
        if any(name == "psutil" or name.startswith("psutil.") for name in imported_names(path)):
            offenders.append(f"{path.relative_to(REPO)} imports psutil")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            # A path inside /proc is something read from it; "/proc" alone is the mount point
            # (files/yamlfile.py stats it to refuse the kernel's files).
            if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and node.value.startswith("/proc/"):
                offenders.append(f"{path.relative_to(REPO)} reads {node.value}")
    assert offenders == []


def test_every_package_is_in_the_wheel():
    """pyproject.toml lists the packages by name (data/ and resources/ are mapped in): a new
    sub-package missing there would be missing from the wheel."""
    import tomllib

    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
                 ["packages"])
    found = {".".join(init.parent.relative_to(REPO).parts) for init in PACKAGE.rglob("__init__.py")}
    assert found - listed == set()


# Modules that stay at the top of their layer, each app-wide (the rest live in role packages):
# core: the immutable values and foreign-text escaping every layer reads, and the pipeline
# itself (Monitor.poll and its diff; hosts: the same pipeline across the window's remote hosts);
# gui: the composition root and the two threading patterns (remote_hosts: the worker thread's
# ssh children).
TOP_LEVEL = {
    "core": {"__init__.py", "text.py", "monitor.py", "diff.py", "hosts.py"},
    "gui": {"__init__.py", "app.py", "worker.py", "jobs.py", "remote_hosts.py"},
}


def test_modules_live_in_role_packages():
    found = {layer: {path.name for path in (PACKAGE / layer).glob("*.py")} for layer in TOP_LEVEL}
    assert found == TOP_LEVEL
