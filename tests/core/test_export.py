"""Exports of the table and the history: same fields as `list --json`, CSV that spreadsheets
cannot be tricked into running, atomic files."""

from __future__ import annotations

import csv
import io
import json
import os
import shlex
import stat

import pytest

from portwatch.core.files import atomic
from portwatch.core.model import (
    AnnotatedListener,
    Assessment,
    CatalogEntry,
    Exposure,
    Family,
    KnownUse,
    Listener,
    ProcessInfo,
    Proto,
    Risk,
    SecurityNote,
    Severity,
)
from portwatch.core.output import export, records
from portwatch.core.store.history import CLOSED, OPENED, HistoryEvent, HistoryStore

HOSTILE = "=cmd|' /C calc'!A0"


def row(port: int, name: str = "python3", cmdline: tuple[str, ...] = ("python3", "-m", "x"),
        address: str = "127.0.0.1") -> AnnotatedListener:
    family = Family.IPV6 if ":" in address else Family.IPV4
    sock = Listener(Proto.TCP, family, address, port, Exposure.LOOPBACK,
                    ProcessInfo(4242, name, "alice", "/usr/bin/python3", cmdline))
    entry = CatalogEntry(
        port, Proto.TCP, "http-alt", "HTTP Alternate",
        uses=(KnownUse("python -m http.server", "development web server"),
              KnownUse("Jupyter", "")),
        security=(SecurityNote("Open proxies", Severity.LOW, "exposure", "n", ("https://x",)),),
    )
    return AnnotatedListener(sock, entry, Assessment(Risk.LOW, "loopback only"))


def hidden_row() -> AnnotatedListener:
    return AnnotatedListener(Listener(Proto.UDP, Family.IPV4, "0.0.0.0", 53,
                                      Exposure.ALL_INTERFACES, None, owner_hidden=True,
                                      hidden_reason="owned by another user"))


def read_csv(path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def test_table_exports_match_the_list_json_records(tmp_path):
    rows = [row(8000, cmdline=("python3", "-m", "http.server", "a b", "it's")),
            row(8001, address="::1"), hidden_row()]
    expected = [records.listener_record(item) for item in rows]

    json_path = export.export_listeners(rows, tmp_path / "table.json")
    assert json.loads(json_path.read_text(encoding="utf-8")) == expected

    csv_path = export.export_listeners(rows, tmp_path / "table.csv")
    assert csv_path.read_bytes().startswith(b"\xef\xbb\xbf")  # spreadsheets read it as UTF-8
    parsed = read_csv(csv_path)
    assert list(parsed[0]) == list(expected[0])  # same fields, same order
    first, _, hidden = parsed
    assert first["port"] == "8000" and first["pid"] == "4242"
    assert shlex.split(first["cmdline"]) == expected[0]["cmdline"]
    assert first["uses"] == "python -m http.server: development web server; Jupyter"
    assert first["security"] == "low: Open proxies"
    assert first["owner_hidden"] == "false" and first["risk"] == "low"
    assert hidden["pid"] == "" and hidden["process"] == "" and hidden["owner_hidden"] == "true"
    assert hidden["service"] == ""
    for parsed_row, record in zip(parsed, expected, strict=True):
        for name in ("proto", "family", "address", "exposure", "user", "exe", "description"):
            assert parsed_row[name] == (record[name] or "")


def test_numbers_stay_numbers_in_the_csv():
    text = export.listeners_csv([row(8000)])
    line = text.splitlines()[1]
    assert ",8000," in line and ",4242," in line  # unquoted plain numbers
    assert export.csv_cell("port", -1) == -1  # a number is never text, so never neutralised


@pytest.mark.parametrize("text", [
    HOSTILE, "+1+2", "-2+3", "@SUM(A1)", "\t=1", "\r=1", " =1+1", "\uff1dcmd|'/C calc'!A0",
])
def test_formula_cells_are_neutralised(text):
    assert export.neutralise(text) == "'" + text


@pytest.mark.parametrize("text", ["python3", "a=b", "sshd: root@pts/0", "", "'quoted"])
def test_ordinary_text_is_left_alone(text):
    assert export.neutralise(text) == text


def test_a_process_named_like_a_formula_is_neutralised_in_the_csv(tmp_path):
    hostile = row(8000, name=HOSTILE, cmdline=("-bash", "@evil"))
    path = export.export_listeners([hostile], tmp_path / "t.csv")
    (parsed,) = read_csv(path)
    assert parsed["process"] == "'" + HOSTILE
    assert parsed["cmdline"].startswith("'-bash")
    # The JSON export keeps the name exactly (JSON is data, not a spreadsheet).
    path = export.export_listeners([hostile], tmp_path / "t.json")
    assert json.loads(path.read_text())[0]["process"] == HOSTILE


def test_history_exports_from_a_real_store(tmp_path):
    store = HistoryStore(tmp_path / "history.sqlite3", clock=lambda: 2000.0)
    opened = HistoryEvent.of(OPENED, 1700000000.5, row(8000, name=HOSTILE), 1)
    closed = HistoryEvent.of(CLOSED, 1700000100.0, row(8000), 0)
    store.record_events([opened, closed], new_run=True)
    events = store.events()
    store.close()

    records_ = json.loads(export.events_json(events))
    assert [r["event"] for r in records_] == ["opened", "closed"]
    assert records_[0]["time"] == "2023-11-14T22:13:20Z"
    assert list(records_[0]) == ["event", "time", "seq", *export.LISTENER_FIELDS, "peer"]
    assert records_[0]["peer"] is None  # only a first-remote event has one
    assert [r["seq"] for r in records_] == [e.id for e in events]  # the recorded order
    live = records.listener_record(row(8000, name=HOSTILE))
    recorded = ("service", "description", "risk", "risk_reason")  # stored with each event
    bare = records.listener_record(row(8000, name=HOSTILE).listener)  # catalog facts null
    for name in export.LISTENER_FIELDS:
        expected = live[name] if name in recorded else bare[name]
        assert records_[0][name] == expected, name
    assert records_[0]["uses"] is None and records_[0]["security"] is None

    path = export.export_events(events, tmp_path / "history.csv")
    parsed = read_csv(path)
    assert [r["event"] for r in parsed] == ["opened", "closed"]
    assert parsed[0]["time"] == "2023-11-14T22:13:20Z"
    assert parsed[0]["process"] == "'" + HOSTILE
    assert parsed[1]["port"] == "8000" and parsed[1]["risk"] == "low"
    path = export.export_events(events, tmp_path / "history.json")
    assert json.loads(path.read_text()) == records_


def test_export_format_comes_from_the_name_or_is_refused(tmp_path):
    assert export.format_for(tmp_path / "x.CSV") == "csv"
    assert export.format_for(tmp_path / "x.txt", "json") == "json"
    with pytest.raises(ValueError, match=r"\.csv or \.json"):
        export.export_listeners([row(1)], tmp_path / "x.xlsx")
    assert not (tmp_path / "x.xlsx").exists()


def test_write_is_atomic_and_keeps_the_old_file_on_failure(tmp_path, monkeypatch):
    folder = tmp_path / "exports"
    folder.mkdir()
    target = folder / "table.json"
    target.write_text("old contents")
    os.chmod(target, 0o640)
    export.write_atomic(target, "new contents")
    assert target.read_text() == "new contents"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640  # a replaced file keeps its mode

    def failing_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        export.export_listeners([row(1)], target)
    assert target.read_text() == "new contents"
    assert sorted(p.name for p in folder.iterdir()) == ["table.json"]  # no temp file left


def test_a_new_file_gets_the_usual_mode(tmp_path):
    old = os.umask(0o022)
    try:
        path = export.export_listeners([row(1)], tmp_path / "new.csv")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_csv_round_trips_text_with_quotes_commas_and_newlines():
    tricky = row(1, name='a,"b"\nc')
    parsed = list(csv.DictReader(io.StringIO(export.listeners_csv([tricky]))))
    assert parsed[0]["process"] == 'a,"b"\nc'


def test_a_first_remote_event_keeps_its_peer_through_the_store(tmp_path):
    """The peer of a first connection from the network is stored in the event's details (no
    schema change), read back, and written to JSON and CSV."""
    import dataclasses

    from portwatch.core.model import ConnectionSummary, Peer
    from portwatch.core.store.history import FIRST_REMOTE

    peers = (Peer("127.0.0.1", 40000, "local"), Peer("10.77.0.2", 51234, "lan"))
    connected = dataclasses.replace(row(6379), connections=ConnectionSummary(2, 2, 1, 1, peers))
    store = HistoryStore(tmp_path / "history.sqlite3", clock=lambda: 2000.0)
    store.record_events([HistoryEvent.of(OPENED, 1700000000.0, connected, 1),
                         HistoryEvent.of(FIRST_REMOTE, 1700000001.0, connected, 1)],
                        new_run=True)
    opened, first = store.events()
    store.close()
    assert opened.peer is None
    assert first.peer == Peer("10.77.0.2", 51234, "lan")
    assert json.loads(export.events_json([first]))[0]["peer"] == {
        "address": "10.77.0.2", "port": 51234, "scope": "lan"}
    parsed = read_csv(export.export_events([opened, first], tmp_path / "history.csv"))
    assert [r["peer"] for r in parsed] == ["", "10.77.0.2:51234 (local network)"]
