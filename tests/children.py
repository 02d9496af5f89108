"""Ending a child process a test started: by its PID, politely first.

`end_child` sends SIGTERM (the way a user or systemd asks a program to quit), waits `grace`
seconds, and only then SIGKILLs it and reaps it, so no test leaves a zombie or a listener behind.
"""

from __future__ import annotations

import subprocess


def end_child(proc: subprocess.Popen, grace: float = 10.0) -> int | None:
    """End our own child `proc`; its exit status (None if even SIGKILL left it unreaped)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                return None
    return proc.returncode
