"""Helpers of the reliability suites, imported by name (`from rel_common import tally`): a
module of its own name, since `from conftest import` finds whichever folder's conftest came
first on sys.path when several test folders run together.

The run's tally (faults injected, hostile inputs tried, soak figures; conftest.py prints it at
the end of the run) and `GuiProcess`, the real program started as a window. Nothing here
imports Qt: the core suites in this directory run without it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from children import end_child

REPO = Path(__file__).resolve().parents[2]

TALLY: dict[str, float] = {}


def tally(name: str, amount: float = 1) -> None:
    """Add to one of the run's figures (shown in the terminal summary)."""
    TALLY[name] = TALLY.get(name, 0) + amount


def record(name: str, value: object) -> None:
    """Set a figure (the soak's RSS, duration...)."""
    TALLY[name] = value  # type: ignore[assignment]


# -- the real program ---------------------------------------------------------------------------


class GuiProcess:
    """`python -m portwatch --debug` (the window, offscreen), with its own config, data and
    runtime directories and no D-Bus session; output in a log file. Ended by its pid."""

    def __init__(self, base: Path, env: dict[str, str] | None = None) -> None:
        self.base = base
        self.config = base / "config"
        self.data = base / "data"
        self.runtime = base / "runtime"
        for path in (self.config, self.data, self.runtime):
            path.mkdir(parents=True, exist_ok=True)
        self.runtime.chmod(0o700)
        self.log_path = base / "portwatch.log"
        environment = {key: value for key, value in os.environ.items()
                       if not key.startswith(("DBUS_", "XDG_", "PORTWATCH_", "DISPLAY",
                                              "WAYLAND"))}
        environment.update({
            "QT_QPA_PLATFORM": "offscreen",
            "PORTWATCH_CONFIG_DIR": str(self.config),
            "PORTWATCH_DATA_DIR": str(self.data),
            "XDG_RUNTIME_DIR": str(self.runtime),
            "XDG_CONFIG_HOME": str(base / "xdg-config"),
            "XDG_DATA_HOME": str(base / "xdg-data"),
            "HOME": str(base),
        })
        environment.update(env or {})
        self.env = environment
        self.proc: subprocess.Popen | None = None

    def start(self) -> GuiProcess:
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "portwatch", "--debug"],
                                         stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=self.env, cwd=REPO)
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_for(self, *words: str, timeout: float = 60) -> str:
        """Until every one of `words` is in the log (the program must keep running)."""
        import time

        deadline = time.monotonic() + timeout
        while True:
            text = self.log()
            if all(word in text for word in words):
                return text
            if self.proc.poll() is not None:
                raise AssertionError(f"portwatch ended early ({self.proc.returncode}):\n{text}")
            if time.monotonic() > deadline:
                raise AssertionError(f"not in the log within {timeout} s: {words}\n{text}")
            time.sleep(0.1)

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        return end_child(self.proc)  # our own child, by its pid
