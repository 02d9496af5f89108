"""The history file's size budget (`history_max_mb`): the oldest events go first, in the
order recorded, and the file stops growing (freed pages are reused) however many events come.
Big files are made with SQL (tests/history_fill.py)."""

from __future__ import annotations

import os
import time

from history_fill import fill_history

from portwatch.core.model import Exposure, Family, Listener, ProcessInfo, Proto
from portwatch.core.store.history import OPENED, HistoryEvent, HistoryStore
from portwatch.core.store.settings import Settings

MB = 1_000_000


def listener(port: int) -> Listener:
    return Listener(Proto.TCP, Family.IPV4, "127.0.0.1", port, Exposure.LOOPBACK,
                    ProcessInfo(port, "burst", "root", "/usr/bin/burst", ("burst", "-x")))


def test_a_file_over_its_budget_loses_its_oldest_events_at_open(tmp_path):
    path = tmp_path / "history.sqlite3"
    fill_history(path, 100_000)
    store = HistoryStore(path, max_bytes=5 * MB)
    try:
        assert store.used_bytes() <= 5 * MB
        kept = [e.id for e in store.iter_events()]
        assert kept and kept[-1] == 100_000  # the newest stay
        assert kept == list(range(kept[0], 100_001))  # a prefix went, nothing else
        assert len(kept) < 100_000
    finally:
        store.close()


def test_the_file_stops_growing_while_events_keep_coming(tmp_path):
    path = tmp_path / "history.sqlite3"
    store = HistoryStore(path, max_bytes=3 * MB, synchronous="NORMAL")
    try:
        now = time.time()
        for batch in range(30):  # ~6 MB of events into a 3 MB budget
            store.record_events([HistoryEvent(now + batch, OPENED, listener(20000 + n), n)
                                 for n in range(1000)], new_run=batch == 0)
            store.enforce_budget()  # what record() does once a minute
        assert store.used_bytes() <= 3 * MB
        assert os.path.getsize(path) <= 4 * MB  # the budget plus at most one batch of slack
        ids = [e.id for e in store.iter_events()]
        assert ids[-1] == 30_000 and ids == list(range(ids[0], 30_001))
    finally:
        store.close()


def test_the_default_budget_is_sensible():
    assert Settings().history_max_mb == 500  # ≈ 1.8 million events of ~280 bytes (see fill)
