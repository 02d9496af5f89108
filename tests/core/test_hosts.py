"""The window's remote hosts without Qt or ssh: Fleet merges each host's answers (as the remote
`list --json` records come back) with this machine's table, runs the alert rules per machine
and records into a real history file; a listener's host is a declared field (JSON, history's
owner JSON, the `history` HOST column, `history --host`). The ssh path itself is tested end to
end in tests/fleet (test_remote.py, test_remote_window.py)."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from portwatch.core import fields
from portwatch.core.alerts.rules import AlertRules
from portwatch.core.hosts import OK, UNREACHABLE, Fleet
from portwatch.core.model import (
    AnnotatedListener,
    Exposure,
    Family,
    Listener,
    ListenerIdentity,
    ProcessInfo,
    Proto,
    Snapshot,
)
from portwatch.core.monitor import Monitor
from portwatch.core.probe.remote import RemoteError, from_record, list_records, list_rows
from portwatch.core.store.history import HistoryReader, HistoryStore
from portwatch.core.store.history_events import OPENED, PRESENT, counts_from

WEB = "alice@web1"


def local(port: int, name: str = "srv") -> Listener:
    return Listener(Proto.TCP, Family.IPV4, "127.0.0.1", port, Exposure.LOOPBACK,
                    ProcessInfo(100 + port, name, exe=f"/usr/bin/{name}"))


def record(port: int, name: str = "redis-server", pid: int | None = 700) -> dict:
    """A record as the remote `portwatch list --json` sends it."""
    return {"proto": "tcp", "family": "ipv4", "address": "0.0.0.0", "port": port,
            "exposure": "all-interfaces", "pid": pid, "process": name if pid else None,
            "user": "redis", "exe": f"/usr/bin/{name}" if pid else None, "cmdline": [name],
            "owner_hidden": pid is None, "service": "redis", "description": "Redis",
            "risk": "medium", "risk_reason": "check that a password is set",
            "likely_software": ["Redis"], "host": None,
            "connections": {"established": 2, "distinct_addresses": 2, "remote_peers": 1,
                            "local_peers": 1, "peers": [{"address": "10.0.0.9", "port": 50000,
                                                         "scope": "lan", "pid": None}]},
            "uses": ["Redis: in-memory data store", "KeyDB: a Redis fork"],
            "security": [{"severity": "high", "kind": "exposure", "title": "Open Redis",
                          "note": "no password by default", "refs": ["https://redis.io"],
                          "origin": "bundled", "applies_to": ["redis-server"], "applies": True},
                         {"severity": "low", "kind": "vulnerability", "title": "KeyDB bug",
                          "note": "another program's", "refs": [], "origin": "bundled",
                          "applies_to": ["keydb-server"], "applies": False}]}


def answer(port_names: dict[int, str], host: str = WEB) -> list[AnnotatedListener]:
    text = json.dumps([record(port, name) for port, name in port_names.items()])
    rows, skipped = list_rows(host, list_records(host, 0, text, ""))
    assert not skipped
    return rows


@pytest.fixture
def fleet(tmp_path):
    scans = [Snapshot(1.0, (local(8000),))]
    monitor = Monitor(lambda: scans[0])
    store = HistoryStore(tmp_path / "history.sqlite3")
    monitor.history = store
    monitor.alert_rules = AlertRules(store, min_polls=0, rate_limit=0.0)
    fleet = Fleet(monitor)
    fleet.local_polled(monitor.poll())  # this machine's first run: its baseline
    yield fleet
    store.close()


def test_a_hosts_rows_join_the_table_and_alert_naming_the_host(fleet):
    added = fleet.add(WEB)
    assert added.hosts[0].state == "connecting" and added.host == WEB
    first = fleet.answered(WEB, answer({6379: "redis-server"}), 0.3)
    assert first.alerts == ()  # a new host's baseline is learnt silently, as a first run
    assert [row.listener.host for row in first.rows] == [None, WEB]
    assert first.host == WEB and first.hosts[0].state == OK and first.hosts[0].listeners == 1
    assert not first.first and [row.listener.port for row in first.opened] == [6379]
    assert first.host_rows == (first.rows[0],)  # the status bar counts this machine's only
    second = fleet.answered(WEB, answer({6379: "redis-server", 8080: "python3"}), 0.3)
    assert [row.listener.port for row in second.opened] == [8080]
    (alert,) = second.alerts
    assert alert.title == f"New listener: port 8080/tcp on {WEB} (python3)"
    assert f"python3 (pid 700) on {WEB} on tcp 0.0.0.0:8080" in alert.body
    # The same program on this machine is another identity: it alerts too
    local_python = local(8080, "python3")
    assert ListenerIdentity.of(local_python).program == "/usr/bin/python3"
    assert ListenerIdentity.of(second.opened[0].listener).program == f"{WEB}:/usr/bin/python3"
    merged = fleet.local_polled(fleet.local.poll())
    assert len(merged.rows) == 3 and merged.host is None
    # the host's events are recorded without a count: the timeline is this machine's
    (bucket,) = fleet.local.history.buckets(0.0, time.time() + 60, 1)
    assert (bucket.low, bucket.high) == (1, 1)


def test_an_unreachable_host_leaves_the_table_unrecorded_and_comes_back_with_news(fleet):
    fleet.add(WEB)
    fleet.answered(WEB, answer({6379: "redis-server"}), 0.3)
    lost = fleet.failed(WEB, "cannot reach alice@web1 with ssh: Connection refused", 2.0)
    assert [row.listener.port for row in lost.closed] == [6379]  # the table drops its rows
    assert [row.listener.host for row in lost.rows] == [None]
    status = lost.hosts[0]
    assert status.state == UNREACHABLE and "Connection refused" in status.reason
    assert status.text.endswith("Connection refused; trying again in 2 s")
    back = fleet.answered(WEB, answer({6379: "redis-server", 5432: "postgres"}), 0.3)
    (alert,) = back.alerts  # known host: what is new since it was last seen is told once
    assert alert.title == ("Opened while portwatch could not see that host: port 5432/tcp on"
                           f" {WEB} (postgres)")
    store = fleet.local.history
    events = [(e.event, e.listener.port, e.listener.host) for e in store.events()
              if e.listener.host is not None]
    # present at each (re)connection, never a "closed" for the time it was unreachable
    assert events == [(PRESENT, 6379, WEB), (PRESENT, 6379, WEB), (PRESENT, 5432, WEB)]
    assert fleet.remove(WEB).hosts == ()
    assert fleet.answered(WEB, answer({1: "x"}), 0.1) is None  # an answer after removal


def test_the_host_is_a_declared_field_kept_by_the_history(tmp_path):
    hidden = from_record(record(6380, pid=None), WEB)
    owned = from_record(record(6379), WEB)
    assert fields.record(owned)["host"] == WEB
    # the remote portwatch's catalog facts come along: the notes (which count), the uses
    assert [note.title for note in owned.entry.security] == ["Open Redis", "KeyDB bug"]
    assert [note.title for note in owned.assessment.applicable] == ["Open Redis"]
    assert [use.software for use in owned.entry.uses] == ["Redis", "KeyDB"]
    assert fields.record(owned)["security"][0]["applies"] is True
    # and who is connected there, as that portwatch counted it
    assert (owned.connections.established, owned.connections.remote_peers) == (2, 1)
    assert owned.connections.peers[0].address == "10.0.0.9"
    assert fields.record(AnnotatedListener(local(8000)))["host"] is None
    assert owned.key != from_record(record(6379)).key  # the host is part of the row's key
    store = HistoryStore(tmp_path / "h.sqlite3")
    from portwatch.core.store.history_events import HistoryEvent

    store.record_events([HistoryEvent.of(PRESENT, 5.0, AnnotatedListener(local(8000)), 1),
                         HistoryEvent.of(OPENED, 6.0, owned, 1),
                         HistoryEvent.of(OPENED, 7.0, hidden, 2)])
    store.close()
    with HistoryReader(tmp_path / "h.sqlite3") as reader:
        events = reader.events()
    assert [(e.listener.host, e.listener.pid) for e in events] == [
        (None, 8100), (WEB, 700), (WEB, None)]
    assert events[1].listener.process.name == "redis-server"
    assert counts_from(events) == [(5.0, 1)]  # the timeline counts this machine's only


def test_history_cli_shows_and_filters_the_host(tmp_path, isolated_dirs):
    from portwatch.core.files import paths
    from portwatch.core.store.history_events import HistoryEvent

    store = HistoryStore(paths.history_file())
    store.record_events([HistoryEvent.of(PRESENT, 5.0, AnnotatedListener(local(8000)), 1),
                         HistoryEvent.of(OPENED, 6.0, from_record(record(6379), WEB), 1)])
    store.close()

    def history(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "portwatch", "history", *args],
                              capture_output=True, text=True, timeout=120, check=False)

    table = history()
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split()[-1] == "HOST"
    assert lines[1].endswith(" local") and lines[2].endswith(f" {WEB}")
    only = json.loads(history("--host", WEB, "--json").stdout)
    assert [(item["port"], item["host"]) for item in only] == [(6379, WEB)]
    mine = json.loads(history("--host", "local", "--json").stdout)
    assert [(item["port"], item["host"]) for item in mine] == [(8000, None)]
    # chosen in SQL by the reader (the host is in the owner JSON, as the tab's filter finds it)
    with HistoryReader(paths.history_file()) as reader:
        def ports(**kwargs) -> list[int]:
            return [e.listener.port for e in reader.iter_events(**kwargs)]
        assert ports(host="") == [8000] and ports(host=WEB) == [6379]
        assert ports() == [8000, 6379] and ports(host="alice@web") == []
        assert ports(host=WEB, since=6.0) == [6379] and ports(host=WEB, limit=0) == []


def test_remote_answers_that_are_not_listeners_are_said_not_guessed():
    with pytest.raises(RemoteError, match="did not answer with its JSON list"):
        list_records(WEB, 0, "<html>", "")
    with pytest.raises(RemoteError, match=f"cannot reach {WEB} with ssh: {WEB}: Permission denied"):
        list_records(WEB, 255, "", "alice@web1: Permission denied (publickey).\n")
    with pytest.raises(RemoteError, match=f"portwatch is not installed on {WEB}"):
        list_records(WEB, 127, "", "sh: 1: portwatch: not found\n")
    rows, skipped = list_rows(WEB, [record(22, "sshd"), {"port": "x"}, "text"])
    assert [row.listener.port for row in rows] == [22]
    assert len(skipped) == 2 and all(s.startswith(f"{WEB}: skipped a listener") for s in skipped)


def test_settings_keep_only_real_ssh_destinations(tmp_path):
    from portwatch.core.store.settings import Settings, load_settings, save_settings

    path = tmp_path / "settings.yaml"
    save_settings(Settings(hosts=(WEB, "db2")), path)
    assert load_settings(path)[0].hosts == (WEB, "db2")
    path.write_text("hosts: ['-oProxyCommand=touch /tmp/pwned']\n")
    settings, messages = load_settings(path)
    assert settings.hosts == ()
    assert len(messages) == 1 and "hosts must be a list of ssh destinations" in messages[0]


def test_a_hosts_new_facts_and_first_remote_connection_reach_the_table(fleet):
    fleet.local.alert_rules.first_remote = True
    fleet.add(WEB)
    quiet = record(6379)
    quiet["connections"] = {"established": 0, "distinct_addresses": 0, "remote_peers": 0,
                            "local_peers": 0, "peers": []}
    fleet.answered(WEB, list_rows(WEB, [quiet])[0], 0.1)
    riskier = {**quiet, "risk": "high", "risk_reason": "no password set"}
    changed = fleet.answered(WEB, list_rows(WEB, [riskier])[0], 0.1)
    assert [row.assessment.risk.value for row in changed.changed] == ["high"]  # re-annotated
    connected = {**riskier, "connections": {
        "established": 1, "distinct_addresses": 1, "remote_peers": 1, "local_peers": 0,
        "peers": [{"address": "203.0.113.7", "port": 40000, "scope": "internet"}]}}
    told = fleet.answered(WEB, list_rows(WEB, [connected])[0], 0.1)
    assert [row.listener.port for row in told.first_remote] == [6379]
    assert told.rows[-1].connections.remote_peers == 1  # the Connections cell follows
    (alert,) = told.alerts
    assert alert.title == (f"First connection from the network to redis-server on 6379 of {WEB},"
                           " from 203.0.113.7")


def test_a_host_whose_alerts_are_off_alerts_no_one_and_learns_what_it_opens(fleet):
    db = "bob@db2"
    fleet.local.alert_rules.first_remote = True
    fleet.alerts_off = frozenset({db})
    for name in (WEB, db):
        fleet.add(name)
        fleet.answered(name, answer({6379: "redis-server"}, name), 0.3)  # the baselines
    loud = fleet.answered(WEB, answer({6379: "redis-server", 8080: "python3"}), 0.3)
    quiet = fleet.answered(db, answer({6379: "redis-server", 8080: "python3"}, db), 0.3)
    assert sorted(alert.title for alert in loud.alerts) == [  # record() has a remote peer
        f"First connection from the network to python3 on 8080 of {WEB}, from 10.0.0.9",
        f"New listener: port 8080/tcp on {WEB} (python3)"]
    assert quiet.alerts == ()  # neither kind
    assert [(status.host, status.alerts) for status in quiet.hosts] == [(WEB, True), (db, False)]
    assert quiet.hosts[1].text == f"{db}: 2 listeners; alerts off"
    assert [row.listener.port for row in quiet.first_remote] == [8080]
    assert [row.listener.port for row in quiet.opened] == [8080]  # the table still gets it
    # ...and the history records it
    assert (OPENED, 8080, db) in [(e.event, e.listener.port, e.listener.host)
                                  for e in fleet.local.history.events()]
    # Back on: what it opened meanwhile was learnt (no flood); what it opens next alerts.
    fleet.alerts_off = frozenset()
    again = fleet.answered(db, answer({6379: "redis-server", 8080: "python3"}, db), 0.3)
    assert again.alerts == ()
    later = fleet.answered(db, answer({6379: "redis-server", 8080: "python3",
                                       5432: "postgres"}, db), 0.3)
    assert sorted(alert.title for alert in later.alerts) == [
        f"First connection from the network to postgres on 5432 of {db}, from 10.0.0.9",
        f"New listener: port 5432/tcp on {db} (postgres)"]


def test_settings_keep_the_hosts_without_alerts(tmp_path):
    from portwatch.core.store.settings import Settings, load_settings, save_settings

    path = tmp_path / "settings.yaml"
    save_settings(Settings(hosts=(WEB, "db2"), hosts_without_alerts=("db2",)), path)
    assert "hosts_without_alerts:\n- db2\n" in path.read_text()
    assert load_settings(path)[0].hosts_without_alerts == ("db2",)
    path.write_text("hosts: [db2]\nhosts_without_alerts: db2\n")  # not a list
    settings, messages = load_settings(path)
    assert settings.hosts == ("db2",) and settings.hosts_without_alerts == ()
    assert len(messages) == 1 and "hosts_without_alerts must be a list of ssh" in messages[0]
