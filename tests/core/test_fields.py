"""The field declarations (portwatch.core.fields) and what is generated from them, proved with
the parent process (`ppid`, `parent`): a field added by its declaration and its reader only
reaches the JSON record, the CSV export, the history file, the details facts and the filter."""

from __future__ import annotations

import csv
import dataclasses
import io
import os

import psutil
import pytest

from portwatch.core import fields
from portwatch.core.fields import FIELDS, TABLE, Stored
from portwatch.core.model import (
    AnnotatedListener,
    Exposure,
    Family,
    Listener,
    ProcessInfo,
    Proto,
)
from portwatch.core.output import export, records
from portwatch.core.probe import ListenerScanner
from portwatch.core.store.history import OPENED, HistoryEvent, HistoryReader, HistoryStore


def test_the_declarations_are_complete():
    keys = [field.key for field in FIELDS]
    assert len(keys) == len(set(keys))
    attributes = {item.name for item in dataclasses.fields(ProcessInfo)}
    stored = {field.attr for field in FIELDS if field.stored is Stored.PROCESS}
    assert stored <= attributes
    # every process detail reaches the history but provenance, which is judged live
    assert attributes - stored == {"pid", "provenance"}
    for field in TABLE:
        assert field.text and field.sort and field.label, field.key
    for field in FIELDS:
        assert (field.cli is None) == (field.cli_text is None), field.key


@pytest.mark.parametrize("fast", [True, False], ids=["netlink", "psutil"])
def test_a_listener_names_its_parent_on_both_scan_paths(listener_factory, fast):
    child = listener_factory()
    scanner = ListenerScanner(fast=fast)
    try:
        snapshot = scanner.scan()
    finally:
        scanner.close()
    (found,) = [item for item in snapshot.listeners
                if item.port == child.port and item.pid == child.pid]
    assert found.process.ppid == os.getpid()
    assert found.process.parent == psutil.Process().name()
    record = records.listener_record(found)
    assert (record["ppid"], record["parent"]) == (os.getpid(), psutil.Process().name())


def owned(ppid: int | None = 1, parent: str | None = "systemd") -> Listener:
    proc = ProcessInfo(4187, "nginx", "www-data", "/usr/sbin/nginx", ("nginx", "-g", "x"),
                       1_700_000_000.5, ppid, parent=parent)
    return Listener(Proto.TCP, Family.IPV4, "0.0.0.0", 80, Exposure.ALL_INTERFACES, proc)


def test_the_parent_reaches_json_csv_details_and_the_filter():
    item = AnnotatedListener(owned())
    record = records.listener_record(item)
    assert record["ppid"] == 1 and record["parent"] == "systemd"
    (row,) = csv.DictReader(io.StringIO(export.listeners_csv([item])))
    assert (row["ppid"], row["parent"]) == ("1", "systemd")
    facts = {fact.label: fact.text for fact in fields.process_facts(item.listener)}
    assert facts["Parent"] == "systemd (PID 1)"
    assert "systemd" in fields.search_texts(item)
    hidden = Listener(Proto.UDP, Family.IPV4, "0.0.0.0", 53, Exposure.ALL_INTERFACES,
                      owner_hidden=True, hidden_reason="needs root")
    assert records.listener_record(hidden)["parent"] is None


def test_the_parent_and_start_time_survive_the_history(tmp_path):
    path = tmp_path / "history.sqlite3"
    store = HistoryStore(path)
    item = AnnotatedListener(owned())
    store.record_events([HistoryEvent.of(OPENED, 10.0, item, 1)], new_run=True)
    store.close()
    with HistoryReader(path) as reader:
        (event,) = reader.events()
    assert event.listener.process == item.listener.process  # every field, the new ones too
    record = export.history_record(event)
    assert (record["ppid"], record["parent"]) == (1, "systemd")

