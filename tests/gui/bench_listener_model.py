"""Time ListenerModel on 10,000 rows behind the sorted filter proxy and a table view.

    QT_QPA_PLATFORM=offscreen .venv/bin/python tests/gui/bench_listener_model.py [ROWS] [ROUNDS]

Each round is a 1% churn: 0.5% of the rows close, 0.5% open and 0.5% change (another user).
"apply" is ListenerModel.apply(PollResult) including the proxy's re-sorting and the view's
bookkeeping; "sweep" is the later removal of the red closing rows (and green rows turning
normal). Prints medians and maxima in milliseconds of wall time, and the median CPU time of
this process (steadier on a busy machine); not part of the test suite.
"""

from __future__ import annotations

import dataclasses
import random
import statistics
import sys
import time

from gui_rows import ScriptedMonitor, listener
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QTableView

from portwatch.gui.models.filter_proxy import ListenerFilterProxy
from portwatch.gui.models.listener_model import Column, ListenerModel


def main(rows: int = 10_000, rounds: int = 20) -> None:
    app = QApplication.instance() or QApplication([])
    clock = [0.0]
    model = ListenerModel(clock=lambda: clock[0])
    proxy = ListenerFilterProxy()
    proxy.setSourceModel(model)
    view = QTableView()
    view.setModel(proxy)
    view.setSortingEnabled(True)
    view.sortByColumn(Column.RISK, Qt.SortOrder.DescendingOrder)
    view.resize(1200, 800)
    view.show()
    scripted = ScriptedMonitor()
    current = [listener(1024 + i % 60000, address=f"127.0.{i // 60000}.1", pid=10_000 + i)
               for i in range(rows)]
    started = time.perf_counter()
    model.apply(scripted.poll(current))
    app.processEvents()
    first = time.perf_counter() - started
    rng = random.Random(4)
    step = max(rows // 200, 1)
    next_pid = 100_000
    applies: list[float] = []
    sweeps: list[float] = []
    apply_cpu: list[float] = []
    sweep_cpu: list[float] = []
    for _ in range(rounds):
        closing = set(rng.sample(range(len(current)), step))
        kept = [item for i, item in enumerate(current) if i not in closing]
        changing = set(rng.sample(range(len(kept)), step))
        kept = [dataclasses.replace(item, process=dataclasses.replace(item.process,
                                                                       user=f"u{next_pid}"))
                if i in changing else item for i, item in enumerate(kept)]
        fresh = [listener(rng.randrange(1024, 65535), address="127.0.9.1", pid=next_pid + i)
                 for i in range(step)]
        next_pid += step
        current = kept + fresh
        result = scripted.poll(current)
        started, cpu = time.perf_counter(), time.process_time()
        model.apply(result)
        applies.append(time.perf_counter() - started)
        apply_cpu.append(time.process_time() - cpu)
        app.processEvents()
        clock[0] += 10  # every highlight is over
        started, cpu = time.perf_counter(), time.process_time()
        model.expire_highlights()
        sweeps.append(time.perf_counter() - started)
        sweep_cpu.append(time.process_time() - cpu)
        app.processEvents()
        assert proxy.rowCount() == len(current)
    print(f"{rows} rows: first apply (sorting everything) {first * 1000:.0f} ms")
    for name, values, cpu_values in (("apply 1% churn", applies, apply_cpu),
                                     ("sweep closing rows", sweeps, sweep_cpu)):
        print(f"{name}: median {statistics.median(values) * 1000:.1f} ms,"
              f" max {max(values) * 1000:.1f} ms over {len(values)} rounds"
              f" (CPU median {statistics.median(cpu_values) * 1000:.1f} ms)")


if __name__ == "__main__":
    main(*(int(arg) for arg in sys.argv[1:3]))
