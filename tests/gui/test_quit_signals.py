"""SIGTERM and SIGINT end the real program like File > Quit: status 0, layout saved."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest


def _wait_for(predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_quits_cleanly_and_saves_the_window_state(sig, isolated_dirs):
    config, data = isolated_dirs
    (config / "settings.yaml").write_text("poll_interval: 0.5\n")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = subprocess.Popen([sys.executable, "-m", "portwatch", "--debug"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # The history file appears once the worker has polled: the window is up.
        assert _wait_for(lambda: (data / "history.sqlite3").exists(), 30), "window never polled"
        time.sleep(0.5)
        proc.send_signal(sig)  # our own child, by its PID
        _out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert f"{sig.name} received: quitting" in err
    state = json.loads((config / "window-state.json").read_text())
    assert state  # written at quit, as on File > Quit
