"""MonitorWorker: polls in its own thread, reports failures and keeps going, obeys requests."""

from __future__ import annotations

import threading

import pytest
from gui_rows import Recorder, listener
from PySide6.QtCore import QThread

from portwatch.core.model import Snapshot
from portwatch.core.monitor import Monitor, PollResult
from portwatch.gui.worker import MonitorThread


class CountingScan:
    """A scan that records which thread ran it and can be told to fail."""

    def __init__(self) -> None:
        self.calls = 0
        self.threads: set[int] = set()
        self.fail_next = False

    def __call__(self) -> Snapshot:
        self.calls += 1
        self.threads.add(threading.get_ident())
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("netlink went away")
        return Snapshot(float(self.calls), (listener(1000 + self.calls),))


@pytest.fixture
def running(qtbot):
    scan = CountingScan()
    owner = MonitorThread(Monitor(scan), interval=0.05, min_interval=0.05)
    owner.polls = Recorder()
    owner.failures = Recorder()
    owner.worker.polled.connect(owner.polls.record)
    owner.worker.failed.connect(owner.failures.record)
    yield owner, scan
    assert owner.shutdown()
    assert not owner.thread.isRunning()


def test_polls_in_its_own_thread_and_emits_immutable_results(qtbot, running):
    owner, scan = running
    with qtbot.waitSignal(owner.polls.recorded, timeout=3000) as first:
        owner.start()
    result = first.args[0]
    assert isinstance(result, PollResult) and result.first
    assert owner.worker.thread() is owner.thread
    with qtbot.waitSignal(owner.polls.recorded, timeout=3000) as second:
        pass
    assert not second.args[0].first
    assert threading.get_ident() not in scan.threads  # never the GUI thread
    assert QThread.currentThread() is not owner.thread


def test_a_failed_poll_is_reported_and_polling_continues(qtbot, running):
    owner, scan = running
    scan.fail_next = True
    with qtbot.waitSignal(owner.failures.recorded, timeout=3000) as failed:
        owner.start()
    assert "netlink went away" in failed.args[0]
    assert failed.args[0].startswith("The scan failed")
    with qtbot.waitSignal(owner.polls.recorded, timeout=3000):
        pass


def test_pause_resume_and_poll_now(qtbot, running):
    owner, scan = running
    with qtbot.waitSignal(owner.polls.recorded, timeout=3000):
        owner.start()
    owner.worker.pause()
    qtbot.wait(100)
    paused_at = scan.calls
    qtbot.wait(300)
    assert scan.calls == paused_at  # nothing while paused
    with qtbot.waitSignal(owner.polls.recorded, timeout=3000):
        owner.worker.poll_now()  # an explicit refresh works while paused
    assert scan.calls == paused_at + 1
    owner.worker.resume()
    qtbot.waitUntil(lambda: scan.calls >= paused_at + 4, timeout=3000)


def test_interval_can_change_at_runtime(qtbot, running):
    owner, scan = running
    with qtbot.waitSignal(owner.polls.recorded, timeout=3000):
        owner.start()
    owner.worker.set_interval(60)
    qtbot.wait(100)
    slow_from = scan.calls
    qtbot.wait(400)
    assert scan.calls == slow_from  # a minute between polls now
    owner.worker.set_interval(0.05)
    qtbot.waitUntil(lambda: scan.calls >= slow_from + 3, timeout=3000)


def test_shutdown_before_start_and_twice_is_harmless(qtbot):
    owner = MonitorThread(Monitor(CountingScan()), interval=1)
    assert owner.shutdown()
    owner.start()
    qtbot.waitUntil(owner.thread.isRunning, timeout=2000)
    assert owner.shutdown()
    assert owner.shutdown()


def test_setup_and_teardown_run_in_the_worker_thread(qtbot):
    ran: dict[str, int] = {}

    def setup():
        ran["setup"] = threading.get_ident()
        return ["the history could not be opened; events are kept in memory"]

    def teardown():
        ran["teardown"] = threading.get_ident()

    scan = CountingScan()
    owner = MonitorThread(Monitor(scan), interval=0.05, min_interval=0.05,
                          setup=setup, teardown=teardown)
    notices = Recorder()
    polls = Recorder()
    owner.worker.notice.connect(notices.record)
    owner.worker.polled.connect(polls.record)
    with qtbot.waitSignal(polls.recorded, timeout=3000):
        owner.start()
    assert notices.items == ["the history could not be opened; events are kept in memory"]
    assert owner.shutdown()
    assert ran["setup"] == ran["teardown"] == next(iter(scan.threads))
    assert ran["setup"] != threading.get_ident()


def test_a_failing_setup_is_a_notice_and_polling_goes_on(qtbot):
    def setup():
        raise OSError("read-only file system")

    owner = MonitorThread(Monitor(CountingScan()), interval=0.05, min_interval=0.05,
                          setup=setup)
    notices = Recorder()
    polls = Recorder()
    owner.worker.notice.connect(notices.record)
    owner.worker.polled.connect(polls.record)
    with qtbot.waitSignal(polls.recorded, timeout=3000):
        owner.start()
    assert owner.shutdown()
    assert len(notices.items) == 1 and "read-only file system" in notices.items[0]
