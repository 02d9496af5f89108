"""The history's figures at scale (`bench.py --history`): a history file of `--events` events
(default 5 million, made directly with SQL by tests/history_fill.py, spread over 30 days up to
now), then `portwatch history --since 1h --json` timed from its launch to its first event line,
with the peak RSS of that process, `--runs` times.

The History tab's figures (open to first rows and plot, window RSS with the tab open) are
printed as not built: the tab still reads every event into memory (issue #18, item 1).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent)]  # tests/, for history_fill

from history_fill import fill_history  # noqa: E402

FIRST_LINE_TARGET_MS = 300.0
PEAK_RSS_TARGET_MB = 80.0

MEASURED = """
import re, sys
from portwatch.cli import main
code = main(sys.argv[1:])
sys.stdout.flush()
# VmHWM: this process's peak RSS (ru_maxrss would keep the parent's from before exec)
with open("/proc/self/status") as status:
    peak = re.search(r"VmHWM:\\s+(\\d+) kB", status.read()).group(1)
print(f"peak-rss-kib {peak}", file=sys.stderr)
sys.exit(code)
"""


def first_event(env: dict) -> tuple[float, float, int]:
    """(ms from launch to the first event line, peak RSS in MB, events) of one run."""
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", MEASURED, "history", "--since", "1h",
                             "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    opening = proc.stdout.readline()
    line = proc.stdout.readline()
    first_ms = (time.perf_counter() - started) * 1000
    events = (1 if line.startswith("{") else 0) + sum(1 for _ in proc.stdout) - 1
    _, err = proc.communicate(timeout=600)
    proc.stdout.close()
    proc.stderr.close()
    if proc.returncode != 0 or opening != "[\n":
        raise RuntimeError(f"history failed ({proc.returncode}): {err.strip()}")
    peak = int(err.split("peak-rss-kib ")[1].split()[0]) / 1024
    return first_ms, peak, events


def bench_history(env: dict, events: int, runs: int) -> int:
    """Print the history rows; 0 when every target is met."""
    data = Path(env["PORTWATCH_DATA_DIR"])
    path = data / "history.sqlite3"
    started = time.perf_counter()
    fill_history(path, events)
    size = os.path.getsize(path) / 1e6
    print(f"history file: {events:,} events over 30 days, {size:,.0f} MB, made with SQL in"
          f" {time.perf_counter() - started:.1f} s")
    subprocess.run([sys.executable, "-m", "portwatch", "history", "--limit", "1"], env=env,
                   stdout=subprocess.DEVNULL, check=True)  # bytecode compiled, file cached
    results = [first_event(env) for _ in range(runs)]
    firsts = [r[0] for r in results]
    peaks = [r[1] for r in results]
    ok_first = statistics.median(firsts) <= FIRST_LINE_TARGET_MS
    ok_peak = max(peaks) <= PEAK_RSS_TARGET_MB
    print(f"{'figure':<58} {'median':>8} {'min–max':>15} {'target':>10}")
    print(f"{'history --since 1h --json: launch to first event (ms)':<58}"
          f" {statistics.median(firsts):>8.0f} {min(firsts):>6.0f}–{max(firsts):<8.0f}"
          f" {'≤ 300':>10}  {'yes' if ok_first else 'NO'}")
    print(f"{'history --since 1h --json: peak RSS (MB)':<58}"
          f" {statistics.median(peaks):>8.1f} {min(peaks):>6.1f}–{max(peaks):<8.1f}"
          f" {'≤ 80':>10}  {'yes' if ok_peak else 'NO'}   ({results[0][2]:,} events listed)")
    print(f"{'History tab: open to first rows and plot':<58} n/a (not built yet: the tab"
          " reads every event)")
    print(f"{'window RSS with the History tab open':<58} n/a (not built yet)")
    return 0 if ok_first and ok_peak else 1
