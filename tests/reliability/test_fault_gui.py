"""Faults seen from the window: under a storm of psutil faults the table's rows are exactly the
scan's, a worker whose scan raises keeps polling (failed, then polled), and the status bar says
what happened in words, then clears once a scan works again."""

from __future__ import annotations

import random

import pytest
from PySide6.QtCore import QObject, Signal, Slot
from rel_common import tally
from rel_faults import FakeProc, FakePsutil, tcp_listen, udp_bound

from portwatch.core.fields import FLAG_MARKER
from portwatch.core.model import Snapshot
from portwatch.core.monitor import Monitor
from portwatch.core.probe.scanner import ListenerScanner
from portwatch.core.store.settings import Settings
from portwatch.gui.app import PortwatchGui
from portwatch.gui.models.listener_model import Column, ListenerModel

KINDS = ["gone", "denied", "zombie", "oserror", "psutil-error"]
ATTRS = ["process", "create_time", "name", "username", "exe", "cmdline", "ppid"]


def faulty_world(rng: random.Random) -> tuple[FakePsutil, list[FakeProc]]:
    procs = [FakeProc(2000 + i, f"svc{i}", exe=f"/usr/sbin/svc{i}",
                      sockets=[tcp_listen(20000 + i, 2000 + i)] if i % 3 else
                      [udp_bound(20000 + i, 2000 + i)]) for i in range(60)]
    return FakePsutil(procs, extra_conns=[tcp_listen(25, None, "0.0.0.0")]), procs


def churn(rng: random.Random, procs: list[FakeProc]) -> None:
    for proc in procs:
        proc.faults = {rng.choice(ATTRS): rng.choice(KINDS)} if rng.random() < 0.3 else {}
        if rng.random() < 0.05:
            proc.create_time += 1  # the pid now belongs to another program
            proc.name = f"other{int(proc.create_time) % 1000}"


def test_table_rows_match_every_scan_under_a_fault_storm(qtbot, qtmodeltester):
    rng = random.Random(4)
    world, procs = faulty_world(rng)
    monitor = Monitor(ListenerScanner(world).scan)
    model = ListenerModel(highlight_seconds=0)  # closed rows leave at once
    for _poll in range(40):
        churn(rng, procs)
        result = monitor.poll()
        model.apply(result)
        shown = {item.key: item for item in model.items()}
        assert shown.keys() == {row.key for row in result.rows}
        for row in result.rows:
            assert shown[row.key] == row  # the details too, not only the keys
        for index in range(model.rowCount()):
            item = model.item_at(index)
            text = model.data(model.index(index, Column.PROCESS))
            proc = item.listener.process
            # A pid that became "other1" while its executable is still svc1: name-mismatch
            flagged = proc is not None and bool(proc.provenance and proc.provenance.flags)
            assert text == ((FLAG_MARKER if flagged else "") + proc.name if proc else "(hidden)")
    qtmodeltester.check(model)  # and the model is still a consistent Qt model
    tally("psutil faults injected", world.injected)


class FailsOnce:
    """A real scanner (over a scripted psutil) whose second scan raises what no code path
    expects, as a bug in a dependency would."""

    def __init__(self) -> None:
        self.scanner = ListenerScanner(FakePsutil([FakeProc(300, "web", sockets=[
            tcp_listen(8080, 300)])]))
        self.calls = 0

    def __call__(self) -> Snapshot:
        self.calls += 1
        if self.calls == 2:
            raise RuntimeError("netlink answered garbage")
        return self.scanner.scan()


class Events(QObject):
    """Polls and failures in the order the GUI thread received them."""

    happened = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        self.kinds: list[str] = []

    @Slot(object)
    def polled(self, _result: object) -> None:
        self.kinds.append("polled")
        self.happened.emit("polled")

    @Slot(str)
    def failed(self, _message: str) -> None:
        self.kinds.append("failed")
        self.happened.emit("failed")


@pytest.fixture
def gui(qtbot):
    scan = FailsOnce()
    app = PortwatchGui(Settings(poll_interval=0.5), Monitor(scan), min_interval=0.2)
    qtbot.addWidget(app.window)
    events = Events()
    app.worker.polled.connect(events.polled)
    app.worker.failed.connect(events.failed)
    yield app, scan, events
    app.shutdown()


def test_a_scan_that_raises_is_reported_and_polling_goes_on(qtbot, gui):
    app, scan, events = gui
    failures: list[str] = []
    app.worker.failed.connect(failures.append)
    status = app.window.status
    app.start(show=False)
    qtbot.waitUntil(lambda: events.kinds[:2] == ["polled", "failed"], timeout=5000)
    # The status bar says what happened, that nothing is lost and that it keeps trying.
    assert status.problem.isVisibleTo(app.window)
    text = status.problem.toolTip() or status.problem.text()
    assert "The scan failed" in status.problem.text()
    assert "RuntimeError: netlink answered garbage" in text
    assert "keeps trying at every interval" in text
    assert status.last_scan.text().startswith("scan failed at")
    assert app.window.model.rowCount() == 1  # the last good scan stays on screen
    # The next poll works: the worker is alive, the failure is cleared from the status bar.
    qtbot.waitUntil(lambda: events.kinds[2:3] == ["polled"], timeout=5000)
    assert app.monitor_thread.thread.isRunning()
    assert not status.problem.isVisibleTo(app.window)
    assert status.last_scan.text().startswith("last scan")
    assert status.counts.text().startswith("1 listening")
    assert scan.calls >= 3
    tally("psutil faults injected")


def test_a_partial_scan_is_explained_in_the_status_bar(qtbot):
    world = FakePsutil([FakeProc(300, "web", sockets=[tcp_listen(8080, 300)]),
                        FakeProc(301, "root-thing", sockets=[tcp_listen(9090, 301)],
                                 faults={"net_connections": "denied"})])
    world.net_fault = "denied"  # the macOS case
    app = PortwatchGui(Settings(), Monitor(ListenerScanner(world).scan), min_interval=0.2)
    qtbot.addWidget(app.window)
    try:
        app.start(show=False)
        qtbot.waitUntil(lambda: app.window.model.rowCount() == 1, timeout=5000)
        text = app.window.status.problem.text()
        assert text.startswith("Scan incomplete:")
        assert "could not be inspected without administrator rights" in \
            app.window.status.problem.toolTip()
    finally:
        app.shutdown()
    tally("psutil faults injected", world.injected)
