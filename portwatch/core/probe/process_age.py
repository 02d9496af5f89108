"""How long this process has been running, for the start-up figures in the log.

On Linux the kernel records when each process started (`/proc/self/stat`, field 22, in clock
ticks since boot); comparing it with CLOCK_BOOTTIME gives the time since exec, interpreter
start-up and imports included, to 1/100 s. Elsewhere the age is unknown (None).
"""

from __future__ import annotations

import os
import time

STARTTIME_FIELD = 22  # 1-based, as in proc(5)


def seconds_since_start(stat_path: str = "/proc/self/stat") -> float | None:
    """Seconds since this process was started, or None where the system does not say."""
    try:
        with open(stat_path, "rb") as handle:
            stat = handle.read()
        # The name (field 2) is in parentheses and may hold spaces: count after its last ")".
        after_name = stat[stat.rindex(b")") + 2:].split()
        ticks = int(after_name[STARTTIME_FIELD - 3])
        now = time.clock_gettime(time.CLOCK_BOOTTIME)
        return max(0.0, now - ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def age_text() -> str:
    """"0.84 s after start" (or that the start time is unknown), for log lines."""
    age = seconds_since_start()
    return "time since start unknown" if age is None else f"{age:.2f} s after start"
