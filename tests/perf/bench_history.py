"""The history's figures at scale (`bench.py --history`): a history file of `--events` events
(default 5 million, made directly with SQL by tests/history_fill.py, spread over 30 days up to
now), then `portwatch history --since 1h --json` timed from its launch to its first event line,
with the peak RSS of that process, `--runs` times.

The History tab is timed in a child process that holds only the tab (offscreen Qt): from its
construction to the first rows in the table and the first plot drawn (the time includes
importing Qt, as opening the tab the first time does, after one untimed
run that compiles their bytecode), its RSS then, and its RSS after using it: scrolling the
table from the first event to the last, zooming the timeline in four steps and out, sorting
newest first. Then the real window (offscreen, the machine's own listeners in its table) with
its History tab opened on the same file and scrolled through, three times: its RSS.
"""

from __future__ import annotations

import json
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
TAB_RSS_TARGET_MB = 150.0  # the window with the tab open

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


TAB = """
import json, os, re, sys, time
started = time.perf_counter()
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
app = QApplication([])
from portwatch.gui.views.history_view import HistoryView
def rss():
    with open("/proc/self/status") as status:
        return int(re.search(r"VmRSS:\\s+(\\d+) kB", status.read()).group(1)) / 1024
view = HistoryView(sys.argv[1])
view.resize(1200, 800)
view.show()
first = None
while view.model.rowCount() == 0 or not view.redraws:
    app.processEvents()
    time.sleep(0.001)
first = time.perf_counter() - started
for _ in range(50):
    app.processEvents()
opened = rss()
# Use it: scroll through the table, zoom the timeline in and out, sort newest first.
rows = view.model.rowCount()
for step in range(0, 101, 5):
    view.table.scrollTo(view.model.index(rows * step // 100 - (step == 100), 0))
    app.processEvents()
low, high = view.time_range()
for part in (2, 8, 64, 1024):
    view.plot.set_x_range(high - (high - low) / part, high)
    view.flush()
    app.processEvents()
view.plot.show_all()
view.flush()
view.table.sortByColumn(0, Qt.SortOrder.DescendingOrder)
for _ in range(50):
    app.processEvents()
print(json.dumps({"first": first * 1000, "rss": opened, "used": rss(), "rows": rows,
                  "note": view.model.note}))
view.close()
"""


WINDOW = """
import json, re, sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
app = QApplication([sys.argv[0]])
def rss():
    with open("/proc/self/status") as status:
        return int(re.search(r"VmRSS:\\s+(\\d+) kB", status.read()).group(1)) / 1024
marks = {}
def open_history():
    from portwatch.gui.views.main_window import MainWindow
    for window in app.topLevelWidgets():
        if isinstance(window, MainWindow) and window.isVisible():
            marks["before"] = rss()
            window.tabs.setCurrentIndex(window.tabs.count() - 1)
            QTimer.singleShot(10000, lambda: finish(window))
            return
    QTimer.singleShot(500, open_history)
def finish(window):
    view = window.tabs.currentWidget().view()
    rows = view.model.rowCount()
    for step in range(0, 101, 5):
        view.table.scrollTo(view.model.index(max(0, rows * step // 100 - 1), 0))
        app.processEvents()
    print(json.dumps({"before": marks["before"], "rss": rss(), "rows": rows,
                      "listeners": window.model.rowCount()}), flush=True)
    app.quit()
QTimer.singleShot(3000, open_history)
from portwatch.gui.app import run_gui
sys.exit(run_gui())
"""


def window_with_tab(env: dict) -> dict:
    """The real window (offscreen) with its History tab open on the bench's file, its
    size budget raised so that it keeps the file whole."""
    config = Path(env["PORTWATCH_CONFIG_DIR"])
    config.mkdir(mode=0o700, parents=True, exist_ok=True)
    (config / "settings.yaml").write_text("history_max_mb: 100000\n", encoding="utf-8")
    child = dict(env, QT_QPA_PLATFORM="offscreen")
    done = subprocess.run([sys.executable, "-c", WINDOW], env=child, capture_output=True,
                          text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"the window failed: {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def history_tab(env: dict, path: Path) -> dict:
    child = dict(env, QT_QPA_PLATFORM="offscreen")
    done = subprocess.run([sys.executable, "-c", TAB, str(path)], env=child,
                          capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"the History tab failed: {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench_history(env: dict, events: int, runs: int) -> int:
    """Print the history rows; 0 when every target is met."""
    data = Path(env["PORTWATCH_DATA_DIR"])
    path = data / "history.sqlite3"
    started = time.perf_counter()
    fill_history(path, events)
    size = os.path.getsize(path) / 1e6
    print(f"history file: {events:,} events over 30 days, {size:,.0f} MB, made with SQL in"
          f" {time.perf_counter() - started:.1f} s; load average"
          f" {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
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
    history_tab(env, path)  # untimed: compiles the bytecode of Qt's helpers
    tabs = [history_tab(env, path) for _ in range(runs)]
    opened = [t["first"] for t in tabs]
    rss = [t["rss"] for t in tabs]
    used = [t["used"] for t in tabs]
    ok_open = statistics.median(opened) <= 1000
    ok_rss = max(used) <= TAB_RSS_TARGET_MB
    print(f"{'History tab: construction to first rows and plot (ms)':<58}"
          f" {statistics.median(opened):>8.0f} {min(opened):>6.0f}–{max(opened):<8.0f}"
          f" {'≤ 1000':>10}  {'yes' if ok_open else 'NO'}   ({tabs[0]['rows']:,} rows)")
    print(f"{'History tab alone: RSS when open (MB)':<58}"
          f" {statistics.median(rss):>8.1f} {min(rss):>6.1f}–{max(rss):<8.1f}")
    print(f"{'History tab alone: RSS after scrolling, zooming, sorting (MB)':<58}"
          f" {statistics.median(used):>8.1f} {min(used):>6.1f}–{max(used):<8.1f}"
          f" {'≤ 150':>10}  {'yes' if ok_rss else 'NO'}")
    windows = [window_with_tab(env) for _ in range(3)]
    with_tab = [w["rss"] for w in windows]
    ok_window = max(with_tab) <= TAB_RSS_TARGET_MB
    print(f"{'Window with the History tab open, scrolled (MB)':<58}"
          f" {statistics.median(with_tab):>8.1f} {min(with_tab):>6.1f}–{max(with_tab):<8.1f}"
          f" {'≤ 150':>10}  {'yes' if ok_window else 'NO'}   (before opening it"
          f" {statistics.median(w['before'] for w in windows):.1f} MB;"
          f" {windows[0]['listeners']:,} listeners, {windows[0]['rows']:,} rows)")
    return 0 if ok_first and ok_peak and ok_open and ok_rss and ok_window else 1
