"""Regenerates resources/screenshots/remote-hosts.png: the real window with a remote host.

    .venv/bin/python packaging/screenshot-hosts.py [light|dark] [OUT.png]      (as root)

A second "machine" is made as the tests make it (tests/fleet/sshd_machine.py: a network
namespace over a veth pair with its own sshd and keys made here), two listeners are opened
inside it, and portwatch starts on the shared screenshot tool's virtual screen
(/work/shared/tools/screenshot.sh) with two hosts in its settings: that machine and
`pwtest-nobody-home`, where nothing answers. The driver sorts by the Host column (remote rows
first) and selects the first row, so the details name the host. Everything started here is
ended by its PID and the namespace is deleted. Listeners of this machine appear too.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import textwrap
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # children, shared by the tests
sys.path.insert(0, str(REPO / "tests" / "fleet"))

import sshd_machine  # noqa: E402  (after the path above)

TOOL = REPO.parent / "shared" / "tools" / "screenshot.sh"


def main() -> int:
    scheme = sys.argv[1] if len(sys.argv) > 1 else "light"
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else (
        REPO / "resources/screenshots/remote-hosts.png")
    tool = TOOL if TOOL.is_file() else Path("/work/shared/tools/screenshot.sh")
    work = Path(tempfile.mkdtemp(prefix="portwatch-hosts-shot."))
    netns = f"pwtest-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", netns], check=True)
    machines = None
    remote = []
    try:
        subprocess.run(["ip", "-n", netns, "link", "set", "lo", "up"], check=True)
        machines = sshd_machine.machine._get_wrapped_function()(work, netns)
        machine = next(machines)
        remote = [machine.listener() for _ in range(2)]
        config, data = work / "config", work / "data"
        config.mkdir()
        data.mkdir()
        (config / "settings.yaml").write_text(
            f"color_scheme: {scheme}\nhosts: [{sshd_machine.HOST}, pwtest-nobody-home]\n")
        env = {**machine.env(), "PORTWATCH_CONFIG_DIR": str(config),
               "PORTWATCH_DATA_DIR": str(data)}
        driver = work / "drive.sh"
        driver.write_text(textwrap.dedent("""\
            #!/bin/bash
            "$@" & app=$!
            wid=$(timeout 20 xdotool search --sync --onlyvisible --name '^portwatch' | head -1)
            sleep 14  # the first scan, and the hosts' first answers
            xdotool windowfocus --sync "$wid"
            xdotool mousemove --window "$wid" 143 127 click 1; sleep 1  # the Host header
            xdotool mousemove --window "$wid" 143 127 click 1; sleep 1  # remote hosts first
            xdotool mousemove --window "$wid" 500 147 click 1; sleep 2  # the first row
            wait $app
            """))
        subprocess.run(["bash", str(tool), str(work / "screen.png"), "24", "--", "bash",
                        str(driver), str(REPO / ".venv/bin/portwatch")], env=env, cwd=REPO,
                       timeout=300, check=False)
        subprocess.run(["convert", str(work / "screen.png"), "-bordercolor", "black", "-border",
                        "1", "-trim", "+repage", "-strip", str(out)], check=True)
        print(f"screenshot-hosts: wrote {out}")
        return 0
    finally:
        for proc, _port in remote:
            sshd_machine.end(proc)
        if machines is not None:
            next(machines, None)
        subprocess.run(["ip", "netns", "delete", netns], check=False)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
