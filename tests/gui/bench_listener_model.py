"""Time ListenerModel on 10,000 rows behind the window's sorted, filtered table and a view.

    QT_QPA_PLATFORM=offscreen .venv/bin/python tests/gui/bench_listener_model.py [ROWS] [ROUNDS]
        [--json]

Each round is a 1% churn: 0.5% of the rows close, 0.5% open and 0.5% change (another user).
The view is the window's listener table view (listener_table.listener_table_view: row
pictures, hidden row header of fixed height, alternating rows, the column widths and hidden
columns, the fast delegate), 1200×800 px, sorted by risk. "apply" is
ListenerModel.apply(PollResult) including the sorted table's placing of the rows and the
view's bookkeeping; "frame" is apply plus the event loop's turn that follows (the view's
layout and its repaint): what a poll costs before the window answers again, against the
targets of one frame (8 ms at 2,200 rows, 16 ms at 20,000, p95); "repaint" is a full repaint
of the same view with nothing changed (what any frame that moves rows pays whatever the model
does); "sweep" is the later removal of the red closing rows (and green rows turning normal) with
its turn of the event loop.
With --json, one line {"rows", "frames_ms", "frames_cpu_ms", "apply_ms", "repaint_ms",
"repaint_cpu_ms", "lateness_ms"} for tests/perf/bench.py. Prints medians and maxima in
milliseconds of wall time, and the median CPU time of this process (steadier on a busy
machine); not part of the test suite.
"""

from __future__ import annotations

import dataclasses
import json
import random
import statistics
import sys
import time

from gui_rows import ScriptedMonitor, listener
from PySide6.QtCore import QEventLoop, Qt, QTimer
from PySide6.QtWidgets import QApplication

from portwatch.gui.app import freeze_what_the_launch_built, paint_on_the_gui_thread
from portwatch.gui.models.filter_proxy import ListenerFilterProxy
from portwatch.gui.models.listener_model import ListenerModel
from portwatch.gui.views.listener_table import listener_table_view

FRAME_TARGET_MS = {2_200: 8, 20_000: 16}  # issue 19: one 60 Hz frame at 20,000 rows
TICK_MS = 10  # the lateness probe's period
POLL_MS = 500  # how often a poll arrives in the lateness phase


def turn(app: QApplication) -> None:
    """The event loop's turn after a poll, as far as a running loop goes before it waits:
    two passes, because the view lays itself out on a zero timer in the first and the
    repaint that layout asks for is posted for the next (one pass left most repaints out)."""
    app.processEvents()
    app.processEvents()


def main(rows: int = 10_000, rounds: int = 20, as_json: bool = False) -> None:
    paint_on_the_gui_thread()  # as the window does
    app = QApplication.instance() or QApplication([])
    clock = [0.0]
    model = ListenerModel(clock=lambda: clock[0])
    proxy = ListenerFilterProxy()
    proxy.setSourceModel(model)
    view = listener_table_view(proxy)  # the window's table view, with its settings
    view.resize(1200, 800)
    view.show()
    scripted = ScriptedMonitor()
    current = [listener(1024 + i % 60000, address=f"127.0.{i // 60000}.1", pid=10_000 + i)
               for i in range(rows)]
    started = time.perf_counter()
    model.apply(scripted.poll(current))
    turn(app)
    first = time.perf_counter() - started
    freeze_what_the_launch_built()  # as the window does after its first frame
    rng = random.Random(4)
    step = max(rows // 200, 1)
    next_pid = 100_000
    applies: list[float] = []
    frames: list[float] = []  # apply + the event loop's turn (proxy, view, repaint)
    frame_cpu: list[float] = []
    sweeps: list[float] = []
    apply_cpu: list[float] = []
    sweep_cpu: list[float] = []

    def churn(current: list) -> list:
        nonlocal next_pid
        closing = set(rng.sample(range(len(current)), step))
        kept = [item for i, item in enumerate(current) if i not in closing]
        changing = set(rng.sample(range(len(kept)), step))
        kept = [dataclasses.replace(item, process=dataclasses.replace(item.process,
                                                                       user=f"u{next_pid}"))
                if i in changing else item for i, item in enumerate(kept)]
        fresh = [listener(rng.randrange(1024, 65535), address="127.0.9.1", pid=next_pid + i)
                 for i in range(step)]
        next_pid += step
        return kept + fresh

    for _ in range(rounds):
        current = churn(current)
        result = scripted.poll(current)
        started, cpu = time.perf_counter(), time.process_time()
        model.apply(result)
        applies.append(time.perf_counter() - started)
        apply_cpu.append(time.process_time() - cpu)
        turn(app)
        frames.append(time.perf_counter() - started)
        frame_cpu.append(time.process_time() - cpu)
        clock[0] += 10  # every highlight is over
        started, cpu = time.perf_counter(), time.process_time()
        model.expire_highlights()
        turn(app)
        sweeps.append(time.perf_counter() - started)
        sweep_cpu.append(time.process_time() - cpu)
        assert proxy.rowCount() == len(current)
    repaints: list[float] = []  # the same view, nothing changed: the floor of a frame
    repaint_cpu: list[float] = []
    for _ in range(rounds):
        started, cpu = time.perf_counter(), time.process_time()
        view.viewport().update()
        turn(app)
        repaints.append(time.perf_counter() - started)
        repaint_cpu.append(time.process_time() - cpu)
    # The event loop's lateness while a poll with 1% churn arrives every POLL_MS (as the
    # worker's results do): a timer due every TICK_MS notes how late it fires.
    lateness: list[float] = []
    due = [time.perf_counter() + TICK_MS / 1000]

    def tick() -> None:
        now = time.perf_counter()
        lateness.append(max(now - due[0], 0.0))
        due[0] = now + TICK_MS / 1000

    def poll() -> None:
        nonlocal current
        current = churn(current)
        model.apply(scripted.poll(current))
        clock[0] += 1  # highlights end one poll later, as with a 1 s highlight

    ticker, poller = QTimer(), QTimer()
    ticker.setTimerType(Qt.TimerType.PreciseTimer)
    ticker.timeout.connect(tick)
    poller.timeout.connect(poll)
    ticker.start(TICK_MS)
    poller.start(POLL_MS)
    loop = QEventLoop()
    QTimer.singleShot(POLL_MS * max(rounds, 10), loop.quit)
    loop.exec()
    ticker.stop()
    poller.stop()
    late_p95 = statistics.quantiles(lateness, n=20)[-1] if len(lateness) > 1 else 0.0
    if as_json:
        print(json.dumps({"rows": rows, "frames_ms": [f * 1000 for f in frames],
                          "lateness_ms": [late * 1000 for late in lateness],
                          "frames_cpu_ms": [f * 1000 for f in frame_cpu],
                          "apply_ms": [a * 1000 for a in applies],
                          "repaint_ms": [r * 1000 for r in repaints],
                          "repaint_cpu_ms": [r * 1000 for r in repaint_cpu]}))
        return
    print(f"{rows} rows: first apply (sorting everything) {first * 1000:.0f} ms")
    print(f"event loop while a 1% churn poll arrives every {POLL_MS} ms: late by median"
          f" {statistics.median(lateness) * 1000:.1f} ms, p95 {late_p95 * 1000:.1f} ms,"
          f" max {max(lateness) * 1000:.1f} ms (target p95 ≤ 50 ms)")
    frame_p95 = statistics.quantiles(frames, n=20)[-1] if len(frames) > 1 else frames[0]
    target = FRAME_TARGET_MS.get(rows)
    print(f"poll with 1% churn, apply + event loop (one frame): median"
          f" {statistics.median(frames) * 1000:.1f} ms, p95 {frame_p95 * 1000:.1f} ms"
          + (f" (target ≤ {target} ms)" if target else "")
          + f"; CPU median {statistics.median(frame_cpu) * 1000:.1f} ms,"
            f" p95 {statistics.quantiles(frame_cpu, n=20)[-1] * 1000:.1f} ms")
    print(f"full repaint of the view, nothing changed: median"
          f" {statistics.median(repaints) * 1000:.1f} ms, max {max(repaints) * 1000:.1f} ms"
          f" (CPU median {statistics.median(repaint_cpu) * 1000:.1f} ms)")
    for name, values, cpu_values in (("apply 1% churn", applies, apply_cpu),
                                     ("sweep closing rows", sweeps, sweep_cpu)):
        print(f"{name}: median {statistics.median(values) * 1000:.1f} ms,"
              f" max {max(values) * 1000:.1f} ms over {len(values)} rounds"
              f" (CPU median {statistics.median(cpu_values) * 1000:.1f} ms)")


if __name__ == "__main__":
    numbers = [int(arg) for arg in sys.argv[1:] if arg.isdecimal()]
    main(*numbers[:2], as_json="--json" in sys.argv)
