"""The history store: round trip of real listener values, counts, retention, alert memory across
restarts, damaged and locked files, and concurrent reading."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from pathlib import Path

import pytest

from portwatch.core.alerts.memory import InMemoryAlertMemory
from portwatch.core.files import paths
from portwatch.core.model import (
    AnnotatedListener,
    Assessment,
    CatalogEntry,
    Exposure,
    Family,
    IgnoreRule,
    Listener,
    ListenerIdentity,
    ProcessInfo,
    Proto,
    Risk,
    Snapshot,
)
from portwatch.core.monitor import Monitor
from portwatch.core.store.history import (
    CLOSED,
    OPENED,
    PRESENT,
    HistoryError,
    HistoryEvent,
    HistoryReader,
    HistoryStore,
    MemoryHistory,
    attach_history,
    open_history,
)
from portwatch.core.store.history_schema import SCHEMA_VERSION

DAY = 86400.0


def listener(port: int, pid: int | None = 100, *, name: str = "srv", proto: Proto = Proto.TCP,
             address: str = "127.0.0.1") -> Listener:
    family = Family.IPV6 if ":" in address else Family.IPV4
    exposure = Exposure.ALL_INTERFACES if address in ("0.0.0.0", "::") else Exposure.LOOPBACK
    if pid is None:
        return Listener(proto, family, address, port, exposure, None, owner_hidden=True,
                        hidden_reason="owned by another user")
    proc = ProcessInfo(pid, name, user="alice", exe=f"/usr/bin/{name}",
                       cmdline=(f"/usr/bin/{name}", "--port", str(port), "a b", "é"))
    return Listener(proto, family, address, port, exposure, proc)


class Annotator:
    def annotate(self, item: Listener) -> AnnotatedListener:
        service = {8000: "irdmi", 22: "ssh"}.get(item.port)
        entry = CatalogEntry(item.port, item.proto, service, service and service.upper())
        return AnnotatedListener(item, entry, Assessment(Risk.LOW, "reachable from here only"))


class Scripted:
    """A scan function that returns prepared snapshots, one per call."""

    def __init__(self, *scans: tuple[float, list[Listener]]) -> None:
        self.scans = list(scans)

    def __call__(self) -> Snapshot:
        when, items = self.scans.pop(0)
        return Snapshot(when, tuple(items))


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "history" / "history.sqlite3"  # a directory not made yet


def test_default_path_is_in_the_data_dir():
    assert paths.history_file().parent == paths.data_dir()


def test_round_trip_of_polls_keeps_every_field(db_path):
    a, b = listener(8000), listener(22, name="<b>sshd</b>", address="::")
    c, hidden = listener(5353, 200, proto=Proto.UDP), listener(631, None)
    scans = Scripted((1000.0, [a, b, hidden]), (1010.0, [a, hidden, c]), (1020.0, [a, hidden, c]))
    store = HistoryStore(db_path, clock=lambda: 1030.0)
    monitor = Monitor(scans, Annotator(), history=store)
    results = [monitor.poll() for _ in range(3)]
    assert not any(result.problems for result in results)
    store.close()

    with HistoryReader(db_path) as reader:
        events = reader.events()
        expected = [
            (PRESENT, 1000.0, row.listener, 3) for row in results[0].rows
        ] + [(CLOSED, 1010.0, b, 2), (OPENED, 1010.0, c, 3)]
        assert [(e.event, e.time, e.listener, e.listeners) for e in events] == expected
        opened = events[-1]
        assert opened.listener.process.cmdline == c.process.cmdline
        assert opened.risk == "low" and opened.risk_reason == "reachable from here only"
        closed = events[-2]
        assert closed.service == "ssh" and closed.description == "SSH"
        assert closed.process_name == "<b>sshd</b>"
        assert closed.listener.family is Family.IPV6
        hidden_event = next(e for e in events if e.listener.owner_hidden)
        assert hidden_event.listener.process is None
        assert hidden_event.listener.hidden_reason == "owned by another user"
        assert len({e.run_id for e in events}) == 1 and events[0].run_id is not None
        assert [e.id for e in events] == sorted(e.id for e in events)
        assert reader.counts_over_time() == [(1000.0, 3), (1010.0, 2), (1010.0, 3)]
        assert reader.events(since=1005.0) == events[3:]
        assert reader.events(until=1005.0) == events[:3]
        assert reader.events(limit=2) == events[:2]
        assert reader.events(after_id=events[3].id) == events[4:]
        ((run_id, started, ended, source),) = reader.runs()
        assert run_id == events[0].run_id
        assert (started, ended, source) == (1000.0, 1030.0, "gui")


def test_each_run_starts_with_a_snapshot_and_quiet_polls_write_nothing(db_path):
    for start in (1000.0, 2000.0):
        store = HistoryStore(db_path, clock=lambda start=start: start)
        monitor = Monitor(Scripted((start, [listener(1)]), (start + 5, [listener(1)])),
                          history=store)
        monitor.poll()
        before = store.last_event_id()
        monitor.poll()  # nothing changed
        assert store.last_event_id() == before
        store.close()
    with HistoryReader(db_path) as reader:
        events = reader.events()
        assert [e.event for e in events] == [PRESENT, PRESENT]
        assert events[0].run_id != events[1].run_id
        assert reader.counts_over_time() == [(1000.0, 1), (2000.0, 1)]


def test_a_run_that_starts_with_nothing_listening_is_still_a_run(db_path):
    store = HistoryStore(db_path, clock=lambda: 50.0)
    Monitor(Scripted((50.0, [])), history=store).poll()
    assert len(store.runs()) == 1 and store.events() == []
    store.close()


def test_retention_deletes_old_events_at_open_and_daily(db_path):
    """Age is measured from the newest stored event (the clock is not trusted: see
    test_history_clock.py), so an event 95 days older than the newest one goes."""
    now = [100 * DAY]
    store = HistoryStore(db_path, clock=lambda: now[0])
    old = HistoryEvent(now[0] - 95 * DAY, OPENED, listener(1), 1)
    recent = HistoryEvent(now[0] - 10 * DAY, OPENED, listener(2), 2)
    newest = HistoryEvent(now[0], OPENED, listener(3), 3)
    store.record_events([old, recent, newest], new_run=True)
    assert store.prune(90) == 1
    assert [e.listener.port for e in store.events()] == [2, 3]
    assert store.prune(5) == 1 and [e.listener.port for e in store.events()] == [3]
    store.close()

    # Reopened 91 days later, after a new event: pruned at open.
    now[0] += 91 * DAY
    store = HistoryStore(db_path, clock=lambda: now[0])
    store.record_events([HistoryEvent(now[0], OPENED, listener(4), 1)], new_run=True)
    store.close()
    store = HistoryStore(db_path, clock=lambda: now[0])
    assert [e.listener.port for e in store.events()] == [4]
    # A day later, record() prunes on its own (retention of 0.5 days here).
    store.retention_days = 0.5
    now[0] += DAY + 1
    monitor = Monitor(Scripted((now[0], [listener(5)]), (now[0], [])), history=store)
    monitor.poll()
    assert [e.listener.port for e in store.events()] == [5]
    assert all(run[1] >= now[0] - DAY for run in store.runs())  # empty old runs went too
    store.close()


@pytest.mark.parametrize("kind", ["store", "memory"])
def test_alert_memory_behaviour(db_path, kind):
    memory = HistoryStore(db_path) if kind == "store" else InMemoryAlertMemory()
    one = ListenerIdentity.of(listener(8000))
    two = ListenerIdentity.of(listener(22, name="sshd"))
    rule = IgnoreRule(process="cups", port_from=631, port_to=631, proto=Proto.TCP)
    any_proto = IgnoreRule(port_from=5353)
    assert not memory.has_baseline() and memory.known_identities() == set()
    memory.remember([])
    assert memory.has_baseline()
    memory.remember([one, two, one])
    assert memory.known_identities() == {one, two}
    memory.acknowledge(two)
    memory.acknowledge(two)
    assert memory.acknowledged() == {two}
    for item in (rule, any_proto, rule):
        memory.add_ignore_rule(item)
    assert memory.ignore_rules() == [rule, any_proto]
    memory.remove_ignore_rule(rule)
    memory.remove_ignore_rule(rule)
    assert memory.ignore_rules() == [any_proto]


def test_alert_memory_survives_a_restart(db_path):
    one = ListenerIdentity.of(listener(8000))
    rule = IgnoreRule(process="/usr/bin/cupsd")
    store = HistoryStore(db_path)
    store.remember([one])
    store.acknowledge(one)
    store.add_ignore_rule(rule)
    store.add_ignore_rule(IgnoreRule(port_from=1, port_to=1023, proto=Proto.UDP))
    store.remove_ignore_rule(IgnoreRule(port_from=1, port_to=1023, proto=Proto.UDP))
    store.close()
    again = HistoryStore(db_path)
    assert again.has_baseline()
    assert again.known_identities() == {one}
    assert again.acknowledged() == {one}
    assert again.ignore_rules() == [rule]
    again.close()


def test_alert_rules_learn_the_baseline_through_the_store(db_path):
    from portwatch.core.alerts.rules import AlertRules

    store = HistoryStore(db_path)
    rules = AlertRules(store, min_polls=0, ephemeral_range=(60000, 60999))
    Monitor(Scripted((1.0, [listener(8000)])), alert_rules=rules, history=store).poll()
    store.close()
    store = HistoryStore(db_path)
    rules = AlertRules(store, min_polls=0, ephemeral_range=(60000, 60999))
    result = Monitor(Scripted((2.0, [listener(8000), listener(9000)])), alert_rules=rules,
                     history=store).poll()
    assert [a.listeners[0].listener.port for a in result.alerts] == [9000]  # 8000 is known
    store.close()


# -- damaged, locked, foreign, newer ------------------------------------------------------------


def test_not_a_sqlite_file_is_reported_and_left_untouched(db_path):
    db_path.parent.mkdir(parents=True)
    db_path.write_bytes(b"this is my shopping list, not a database\n" * 200)
    before = digest(db_path)
    history, problems = open_history(db_path)
    assert isinstance(history, MemoryHistory)
    (problem,) = problems
    assert f"history file {db_path} is damaged" in problem
    assert "portwatch keeps watching without saving history" in problem
    assert "left untouched" in problem
    assert digest(db_path) == before
    assert sorted(p.name for p in db_path.parent.iterdir()) == [db_path.name]
    # The fallback takes the polls (keeping no events: the History tab reads the file) and
    # works as alert memory for this run.
    monitor = Monitor(Scripted((1.0, [listener(1)]), (2.0, [])), history=history)
    monitor.poll()
    assert not monitor.poll().problems
    history.remember([ListenerIdentity.of(listener(1))])
    assert history.has_baseline()
    with pytest.raises(HistoryError, match="damaged"):
        HistoryReader(db_path)


def make_malformed(db_path: Path) -> None:
    store = HistoryStore(db_path)
    for start in range(0, 3000, 100):
        store.record_events([HistoryEvent(float(i), OPENED, listener(i % 60000 + 1), i)
                             for i in range(start, start + 100)], new_run=start == 0)
    store.close()
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.close()
    data = bytearray(db_path.read_bytes())
    page = 4096
    assert len(data) > 20 * page
    for offset in range(3 * page, len(data) - 2 * page, 2 * page):  # scribble over pages
        data[offset : offset + 200] = b"\xa5" * 200
    db_path.write_bytes(bytes(data))


def test_malformed_database_is_reported_and_left_untouched(db_path):
    make_malformed(db_path)
    before = digest(db_path)
    history, problems = open_history(db_path)
    assert isinstance(history, MemoryHistory)
    assert "is damaged" in problems[0] and "left untouched" in problems[0]
    assert digest(db_path) == before


def test_damaged_file_can_be_set_aside_and_a_new_history_started(db_path):
    make_malformed(db_path)
    before = digest(db_path)
    history, problems = open_history(db_path, set_aside_damaged=True)
    assert isinstance(history, HistoryStore)
    (moved,) = [p for p in db_path.parent.iterdir() if ".damaged-" in p.name
                and not p.name.endswith(("-wal", "-shm"))]
    assert digest(moved) == before  # the user's data is all there, under a new name
    assert f"moved to {moved}" in problems[0] and "new history was started" in problems[0]
    history.record_events([HistoryEvent(1.0, OPENED, listener(1), 1)], new_run=True)
    assert len(history.events()) == 1
    history.close()


def test_locked_database_is_reported_left_in_place_and_usable_later(db_path):
    HistoryStore(db_path).close()
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("PRAGMA locking_mode = EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("INSERT INTO meta (key, value) VALUES ('holder', 'x')")
    try:
        before = digest(db_path)
        history, problems = open_history(db_path, busy_timeout=0.2, set_aside_damaged=True)
        assert isinstance(history, MemoryHistory)
        assert "is locked by another program" in problems[0]
        assert "left untouched" in problems[0]
        assert digest(db_path) == before
        assert not [p for p in db_path.parent.iterdir() if ".damaged-" in p.name]
        with pytest.raises(HistoryError, match="locked"):
            HistoryReader(db_path, busy_timeout=0.2)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    history, problems = open_history(db_path)
    assert isinstance(history, HistoryStore) and not problems
    history.close()


def test_a_write_refused_by_a_lock_is_kept_and_written_with_the_next_poll(db_path):
    store = HistoryStore(db_path, busy_timeout=0.1)
    monitor = Monitor(Scripted((1.0, [listener(1)]), (2.0, [listener(1), listener(2)]),
                               (3.0, [listener(2)])), history=store)
    monitor.poll()
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the write lock
    result = monitor.poll()
    (notice,) = result.notices
    assert "recording stopped" in notice and "locked by another program" in notice
    assert result.unrecorded == 1 and not result.problems
    holder.execute("ROLLBACK")
    holder.close()
    result = monitor.poll()
    assert not result.problems and result.unrecorded == 0
    (notice,) = result.notices
    assert "recording resumed" in notice
    assert [(e.event, e.listener.port) for e in store.events()] == [
        (PRESENT, 1), (OPENED, 2), (CLOSED, 1)]
    store.close()


def test_foreign_and_newer_databases_are_left_alone(db_path):
    db_path.parent.mkdir(parents=True)
    conn = sqlite3.connect(db_path)
    conn.execute("CREATE TABLE recipes (name TEXT)")
    conn.commit()
    conn.close()
    before = digest(db_path)
    history, problems = open_history(db_path)
    assert isinstance(history, MemoryHistory) and "not a portwatch history" in problems[0]
    assert digest(db_path) == before

    conn = sqlite3.connect(db_path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    conn.commit()
    conn.close()
    before = digest(db_path)
    history, problems = open_history(db_path, set_aside_damaged=True)
    assert isinstance(history, MemoryHistory) and "newer portwatch" in problems[0]
    assert digest(db_path) == before


def test_a_directory_that_cannot_be_created_falls_back(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    history, problems = open_history(blocker / "history.sqlite3")
    assert isinstance(history, MemoryHistory)
    assert f"{blocker} is a file, not a folder" in problems[0]


# -- threads ------------------------------------------------------------------------------------


def test_reader_in_one_thread_while_the_store_writes_in_another(db_path):
    HistoryStore(db_path).close()
    errors: list[BaseException] = []
    done = threading.Event()

    def writer() -> None:
        try:
            store = HistoryStore(db_path)  # made in the thread that uses it
            for i in range(50):
                store.record_events([HistoryEvent(float(i), OPENED, listener(i + 1), i + 1)],
                                    new_run=i == 0)
            store.close()
        except BaseException as exc:
            errors.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=writer)
    reader = HistoryReader(db_path)
    thread.start()
    seen = 0
    while not done.is_set():
        events = reader.events()
        assert len(events) >= seen  # readers see whole commits, in order
        seen = len(events)
    thread.join()
    assert not errors
    assert len(reader.events()) == 50
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        reader._conn.execute("DELETE FROM events")
    reader.close()


def test_reader_without_a_file_says_so(db_path):
    with pytest.raises(FileNotFoundError):
        HistoryReader(db_path)
    assert not db_path.exists()


def test_attach_history_in_the_polling_thread(db_path):
    monitor = Monitor(Scripted((1.0, [listener(1)]), (2.0, [])))
    problems: list[str] = []

    def worker() -> None:  # what the GUI's worker thread does when it starts
        problems.extend(attach_history(monitor, db_path, clock=lambda: 3.0))
        monitor.poll()
        monitor.poll()

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert problems == [] and isinstance(monitor.history, HistoryStore)
    monitor.history.close()  # from another thread: tolerated, nothing lost
    with HistoryReader(db_path) as reader:
        assert [e.event for e in reader.events()] == [PRESENT, CLOSED]


class _DamagedConnection:
    """Stands in for a connection whose file was damaged after it was opened."""

    def __init__(self, real: sqlite3.Connection) -> None:
        self.real = real

    @property
    def in_transaction(self) -> bool:
        return self.real.in_transaction

    def execute(self, sql: str, *args: object) -> sqlite3.Cursor:
        return self.real.execute(sql, *args)

    def executemany(self, sql: str, *args: object) -> sqlite3.Cursor:
        raise sqlite3.DatabaseError("database disk image is malformed")

    def close(self) -> None:
        self.real.close()


def test_damage_found_while_recording_is_reported_clearly(db_path):
    store = HistoryStore(db_path)
    store._conn = _DamagedConnection(store._conn)
    result = Monitor(Scripted((1.0, [listener(1)])), history=store).poll()
    (problem,) = result.problems
    assert problem.startswith(f"history not saved: history file {db_path} is damaged")
    assert "keeps watching without saving history" in problem
    assert not store._conn.in_transaction  # rolled back
    store.close()
