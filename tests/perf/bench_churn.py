"""The History tab under churn (`bench.py --churn`): `--churn-seconds` (default 600) of 1,000
events a second recorded into a history file while the tab shows it.

A writer process records a poll's events every 0.5 s (250 short-lived listeners of one program
opening and 250 closing, through HistoryStore.record_events, as the window's worker does). The
tab runs in its own process (offscreen Qt, the tab alone, shown at 1200×800, newest rows in
view) and takes in the file after each poll as the window does after each `polled` signal: a
0.5 s timer stands in for the poll here. After every poll the tab's newest row is compared
with the file's newest event; how many polls behind it is, its RSS every 10 s (growth from the
first minute on: warm-up, caches filling), and the writer's file size, are printed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

POLL = 0.5
PER_POLL = 500  # events a poll: 1,000 a second
RSS_GROWTH_TARGET_MB = 30.0

WRITER = """
import sys, time
from portwatch.core.model import (AnnotatedListener, Exposure, Family, Listener, ProcessInfo,
                                  Proto)
from portwatch.core.store.history import CLOSED, OPENED, HistoryEvent, HistoryStore
path, seconds = sys.argv[1], float(sys.argv[2])
per_poll, poll = int(sys.argv[3]), float(sys.argv[4])
store = HistoryStore(path)
started = time.monotonic()
count, number, ticks = 2000, 0, 0
while time.monotonic() - started < seconds:
    events = []
    for _ in range(per_poll // 2):
        sock = Listener(Proto.TCP, Family.IPV4, "127.0.0.1", 20000 + number % 40000,
                        Exposure.LOOPBACK, ProcessInfo(100000 + number, "churn", "root",
                        "/usr/bin/churn", ("/usr/bin/churn", "--serve")))
        number += 1
        events.append(HistoryEvent.of(OPENED, time.time(), AnnotatedListener(sock), count + 1))
        events.append(HistoryEvent.of(CLOSED, time.time(), AnnotatedListener(sock), count))
    store.record_events(events, new_run=ticks == 0)
    ticks += 1
    time.sleep(max(0.0, started + ticks * poll - time.monotonic()))
store.close()
print(ticks, flush=True)
"""

TAB = """
import json, re, sqlite3, sys, time
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
app = QApplication([])
from portwatch.gui.views.history_view import HistoryView
path, seconds = sys.argv[1], float(sys.argv[2])
per_poll, poll = int(sys.argv[3]), float(sys.argv[4])
def rss():
    with open("/proc/self/status") as status:
        return int(re.search(r"VmRSS:\\s+(\\d+) kB", status.read()).group(1)) / 1024
view = HistoryView(path)
view.resize(1200, 800)
view.show()
probe = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
started = time.monotonic()
behind, samples, last_sample = [], [], 0.0
def after_poll():
    view.refresh()  # what the window does after each poll
    view.table.scrollToBottom()
    newest = probe.execute("SELECT max(id) FROM events").fetchone()[0] or 0
    shown = view.model.id_at(view.model.rowCount() - 1) if view.model.rowCount() else 0
    behind.append((newest - shown) / per_poll)
timer = QTimer()
timer.timeout.connect(after_poll)
timer.start(int(poll * 1000))
while time.monotonic() - started < seconds:
    app.processEvents()
    time.sleep(0.005)
    now = time.monotonic() - started
    if now - last_sample >= 10:
        samples.append((round(now), rss()))
        last_sample = now
print(json.dumps({"samples": samples, "behind": behind, "rows": view.model.rowCount(),
                  "redraws": view.redraws}))
"""


def bench_churn(env: dict, seconds: float) -> int:
    """Print the churn rows; 0 when the targets are met."""
    data = Path(env["PORTWATCH_DATA_DIR"])
    path = data / "history.sqlite3"
    child = dict(env, QT_QPA_PLATFORM="offscreen")
    load = os.getloadavg()
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(seconds),
                               str(PER_POLL), str(POLL)], env=env, stdout=subprocess.PIPE,
                              text=True)
    while not path.exists():
        time.sleep(0.05)
    time.sleep(2 * POLL)  # the first events are in
    tab = subprocess.run([sys.executable, "-c", TAB, str(path), str(seconds - 3 * POLL),
                          str(PER_POLL), str(POLL)], env=child, capture_output=True, text=True,
                         timeout=seconds + 600)
    polls = int(writer.communicate(timeout=120)[0].strip() or 0)
    writer.stdout.close()
    if tab.returncode != 0:
        raise RuntimeError(f"the History tab failed: {tab.stderr.strip()[-500:]}")
    result = json.loads(tab.stdout.strip().splitlines()[-1])
    samples = result["samples"]
    warm = next((rss for at, rss in samples if at >= 60), samples[0][1])
    peak_after = max(rss for _at, rss in samples)
    growth = samples[-1][1] - warm
    worst = max(result["behind"])
    size = sum(part.stat().st_size for part in (path, path.with_name(path.name + "-wal"))
               if part.exists()) / 1e6
    events = polls * PER_POLL
    ok_rss = growth <= RSS_GROWTH_TARGET_MB
    ok_lag = worst <= 1
    print(f"History tab under churn: {seconds:.0f} s at {PER_POLL / POLL:,.0f} events/s"
          f" ({events:,} events in {polls:,} polls; file {size:,.0f} MB,"
          f" {size * 1e6 / max(events, 1):.0f} bytes an event); load average before"
          f" {' '.join(f'{x:.1f}' for x in load)}, after"
          f" {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"{'  tab RSS at 1 min / at the end / peak (MB)':<58}"
          f" {warm:>6.1f} / {samples[-1][1]:.1f} / {peak_after:.1f}")
    print(f"{'  tab RSS growth after the first minute (MB)':<58} {growth:>6.1f}"
          f" {'≤ 30':>10}  {'yes' if ok_rss else 'NO'}")
    print(f"{'  polls the tab was behind the file, worst (after a poll)':<58} {worst:>6.2f}"
          f" {'≤ 1':>10}  {'yes' if ok_lag else 'NO'}   ({result['rows']:,} rows,"
          f" {result['redraws']} redraws)")
    return 0 if ok_rss and ok_lag else 1
