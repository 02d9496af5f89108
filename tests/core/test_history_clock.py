"""A clock that is wrong never costs history: real `portwatch watch` runs under libfaketime
(the `faketime` package) 100 days ahead and a year behind, then on the right clock.

Retention measures age from the newest stored event, prunes nothing while the clock is behind
it (and says so once), deletes in recording order, and events keep the order they were
recorded in, whatever their times say. `history --since` ends at now.
"""

from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from portwatch.core.files import paths
from portwatch.core.model import Exposure, Family, Listener, ProcessInfo, Proto
from portwatch.core.store.history import (
    OPENED,
    HistoryError,
    HistoryEvent,
    HistoryReader,
    HistoryStore,
)

DAY = 86400.0
TIMEOUT = 30.0
FAKETIME_LIBS = sorted(glob.glob("/usr/lib/*/faketime/libfaketimeMT.so.1"))
needs_faketime = pytest.mark.skipif(
    not FAKETIME_LIBS, reason="needs libfaketime (Debian package faketime)")


def listener(port: int) -> Listener:
    return Listener(Proto.TCP, Family.IPV4, "127.0.0.1", port, Exposure.LOOPBACK,
                    ProcessInfo(4242, "seeded", "alice", "/usr/bin/seeded", ()))


def seed(*ages: float) -> None:
    """Real events, `ages` seconds ago on the right clock, ports 7000, 7001, …"""
    now = time.time()
    store = HistoryStore(paths.history_file())
    store.record_events([HistoryEvent(now - age, OPENED, listener(7000 + n), n + 1)
                         for n, age in enumerate(ages)], new_run=True)
    store.close()


def runs() -> int:
    """Runs recorded so far (0 while the file is being made: no tables, or not all yet)."""
    try:
        with HistoryReader(paths.history_file()) as reader:
            return len(reader.runs())
    except (FileNotFoundError, HistoryError):
        return 0


def events() -> list[HistoryEvent]:
    with HistoryReader(paths.history_file()) as reader:
        return reader.events()


def run_watch(offset: str | None) -> str:
    """Run `portwatch watch` (under libfaketime with FAKETIME=`offset`) until it has recorded
    its snapshot, end it with SIGINT; returns its stderr."""
    env = dict(os.environ)
    if offset is not None:
        env.update(LD_PRELOAD=FAKETIME_LIBS[0], FAKETIME=offset)
    before = runs() if paths.history_file().exists() else 0
    proc = subprocess.Popen([sys.executable, "-m", "portwatch", "watch", "--interval", "0.3"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.monotonic() + TIMEOUT
        while runs() == before or not [e for e in events() if e.event == "present"
                                       and e.run_id and e.run_id > before]:
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "watch recorded no snapshot in time"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGINT)  # our own child, by its PID
        _, err = proc.communicate(timeout=TIMEOUT)
        assert proc.returncode == 0, err
        return err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=TIMEOUT)
        elif proc.stderr and not proc.stderr.closed:
            proc.stderr.close()


def portwatch(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "portwatch", *args], capture_output=True,
                          text=True, timeout=60)


BEHIND = "is behind the newest event in the history"


@needs_faketime
def test_a_clock_100_days_ahead_deletes_nothing_and_its_events_are_not_recent(
        listener_factory):
    listener_factory("tcp")  # something is listening, so the snapshot has events
    seed(2 * 3600, 1800)
    run_watch("+100d")
    seeded = [e for e in events() if e.process_name == "seeded"]
    assert [e.listener.port for e in seeded] == [7000, 7001]  # retention deleted nothing
    future = [e for e in events() if e.time > time.time() + 99 * DAY]
    assert future, "the run under faketime recorded its snapshot 100 days ahead"

    recent = portwatch("history", "--since", "1h", "--json")
    assert recent.returncode == 0, recent.stderr
    listed = json.loads(recent.stdout)
    assert [(r["port"], r["process"]) for r in listed] == [(7001, "seeded")]
    assert f"{len(future)} events dated after now were left out" in recent.stderr

    # Back on the right clock: the clock is behind the newest (future) event, so nothing is
    # pruned, and that is said once.
    err = run_watch(None)
    assert err.count(BEHIND) == 1, err
    assert [e.listener.port for e in events() if e.process_name == "seeded"] == [
        7000, 7001]
    assert len([e for e in events() if e.time > time.time() + 99 * DAY]) == len(future)


@needs_faketime
def test_events_of_a_clock_a_year_behind_survive_the_next_start_in_their_order(
        listener_factory):
    listener_factory("tcp")
    seed(2 * 3600, 3600)
    err = run_watch("-365d")
    assert err.count(BEHIND) == 1, err  # the newest event is "in the future" for that clock
    past = [e.id for e in events() if e.time < time.time() - 300 * DAY]
    assert past, "the run under faketime recorded its snapshot a year back"
    run_watch(None)  # the next normal start prunes with 90 days of retention
    stored = events()
    assert [e.id for e in stored if e.time < time.time() - 300 * DAY] == past
    assert [e.listener.port for e in stored if e.process_name == "seeded"] == [
        7000, 7001]
    # `history` lists them in the order recorded: seeded, the year-behind run, the last run.
    listed = json.loads(portwatch("history", "--json").stdout)
    order = [r["seq"] for r in listed]
    assert order == sorted(order) and len(set(order)) == len(order)
    times = [r["time"] for r in listed]
    assert times != sorted(times)  # the year-behind run's times jump back, the order does not


def test_pruning_measures_age_from_the_newest_event_and_never_runs_behind_it(tmp_path):
    now = [1000 * DAY]
    path = tmp_path / "history.sqlite3"
    store = HistoryStore(path, clock=lambda: now[0])
    store.record_events([HistoryEvent(now[0] - 100 * DAY, OPENED, listener(1), 1),
                         HistoryEvent(now[0], OPENED, listener(2), 2)], new_run=True)
    store.close()
    now[0] += 500 * DAY  # a clock far ahead (or a long time off): still only what is old
    store = HistoryStore(path, clock=lambda: now[0])  # relative to the newest event
    assert [e.listener.port for e in store.events()] == [2]
    store.close()
    now[0] -= 600 * DAY  # behind the newest event: nothing, said once
    store = HistoryStore(path, clock=lambda: now[0])
    assert store.notices and BEHIND in store.notices[0]
    assert store.prune(0) == 0 and store.prune(0) == 0 and len(store.notices) == 1
    assert [e.listener.port for e in store.events()] == [2]
    store.close()
