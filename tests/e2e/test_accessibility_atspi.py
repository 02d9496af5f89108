"""The window as a screen reader meets it: the real AT-SPI tree of the running program.

A private desktop (Xvfb + D-Bus session, desktop.py) gets the accessibility bus
(at-spi-bus-launcher, from at-spi2-core); portwatch runs on it with Qt's accessibility on, and
Debian's python3 with the AT-SPI bindings (gir1.2-atspi-2.0) walks the tree the way Orca does.
The table, the filter field and toggles, the alerts button, the details and the status bar
must have names (and descriptions where a name is not enough), and risk must be there as a
word, not only a colour."""

from __future__ import annotations

import json
import shutil
import subprocess
import textwrap

import psutil
import pytest
from desktop import PortwatchProcess, wait_until

pytestmark = pytest.mark.e2e

LAUNCHER = "/usr/libexec/at-spi-bus-launcher"
SYSTEM_PYTHON = "/usr/bin/python3"

WALK = textwrap.dedent("""
    import json, sys
    import gi
    gi.require_version("Atspi", "2.0")
    from gi.repository import Atspi

    def walk(node, depth, out):
        try:
            role, name = node.get_role_name(), node.get_name() or ""
            description = node.get_description() or ""
            count = node.get_child_count()
        except Exception:
            return
        out.append({"role": role, "name": name, "description": description, "depth": depth})
        if depth > 30:
            return
        # a table's cells: the first rows are enough
        for index in range(min(count, 60) if role == "table" else count):
            child = node.get_child_at_index(index)
            if child is not None:
                walk(child, depth + 1, out)

    desktop = Atspi.get_desktop(0)
    for index in range(desktop.get_child_count()):
        app = desktop.get_child_at_index(index)
        if app is not None and app.get_name() == sys.argv[1]:
            out = []
            walk(app, 0, out)
            print(json.dumps(out))
            break
    else:
        print("[]")
""")


def _skip_unless_atspi() -> None:
    if not shutil.os.path.exists(LAUNCHER):
        pytest.skip("needs at-spi2-core (at-spi-bus-launcher): see .ci/system-packages")
    probe = subprocess.run([SYSTEM_PYTHON, "-c", "import gi; gi.require_version('Atspi',"
                            " '2.0'); from gi.repository import Atspi"],
                           capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        pytest.skip("needs Debian's python3 with python3-gi and gir1.2-atspi-2.0"
                    " (see .ci/system-packages)")


@pytest.fixture
def accessible_desktop(desktop_factory):
    _skip_unless_atspi()
    session = desktop_factory(tray=False, notifications=False)
    launcher = session._spawn("at-spi-bus-launcher", [LAUNCHER, "--launch-immediately"])
    yield session
    # The accessibility bus and its registry are the launcher's children: end them by PID.
    try:
        children = psutil.Process(launcher.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    for child in children:
        try:
            child.terminate()
            child.wait(10)
        except psutil.NoSuchProcess:
            pass


def tree(session) -> list[dict]:
    walked = subprocess.run([SYSTEM_PYTHON, "-c", WALK, "portwatch"], env=session.env,
                            capture_output=True, text=True, timeout=120)
    if walked.returncode != 0:
        return []
    return json.loads(walked.stdout or "[]")


def test_the_window_reads_well_through_at_spi(accessible_desktop, tmp_path):
    session = accessible_desktop
    env = {**session.env, "QT_LINUX_ACCESSIBILITY_ALWAYS_ON": "1", "QT_ACCESSIBILITY": "1"}
    program = PortwatchProcess(session, tmp_path / "portwatch.log")
    program.session = session
    with (tmp_path / "portwatch.log").open("wb") as log:
        program.proc = subprocess.Popen(program.argv, stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, env=env)
    try:
        program.wait_until_watching(timeout=60)
        found: list[dict] = []

        def table_listed() -> bool:
            found[:] = tree(session)
            return any(n["role"] == "table" and n["name"] == "Listening sockets" for n in found)

        wait_until(table_listed, 60, "the listener table in the AT-SPI tree")
    finally:
        program.stop()

    def named(name: str, role: str | None = None) -> dict:
        matches = [n for n in found if n["name"] == name and (role is None or n["role"] == role)]
        assert matches, f"no {role or 'node'} named {name!r} in the AT-SPI tree"
        return matches[0]

    assert "risk as a word" in named("Listening sockets", "table")["description"]
    assert "Ctrl+F" in named("Filter listeners")["description"]
    for box in ("TCP", "UDP", "Reachable from the network only", "Not in catalog only"):
        assert named(box, "check box")["description"]
    assert any(n["name"].startswith("Alerts (") for n in found)  # the toolbar's button
    named("Details of the selected listener")
    # the status bar's parts may end in "…" on screen; the description has the whole text
    assert " listening · " in named("Listener counts")["description"]
    for button in ("Copy as text", "Open containing folder", "Terminate process…"):
        assert named(button, "push button")["description"]
    # Risk as a word in the table's cells, not only as a coloured dot
    cells = {n["name"] for n in found if n["role"] in ("table cell", "cell")}
    assert cells & {"High", "Medium", "Low", "None"}, sorted(cells)[:40]
    print(f"AT-SPI nodes: {len(found)}; cells: {len(cells)}; e.g. {sorted(cells)[:12]}")
