"""Hostile process names, command lines and executable paths, from real processes: HTML, bidi
overrides, terminal escapes, bells, carriage returns and newlines, spreadsheet formulas, a
100 KB command line and bytes that are not UTF-8. The scan reads them exactly; every place
portwatch writes them (terminal, JSON, CSV and JSON exports, the history database) keeps them
as inert text: no raw control or bidi character on a screen, no encoding error anywhere.

The GUI surfaces (table, tooltips, details pane, notification bodies) are in
test_hostile_gui.py; both count into the run's "hostile input checks".
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import time

import psutil
import pytest
from rel_common import REPO, record, tally
from rel_hostile import HOSTILE_ARGS, HOSTILE_NAMES, raw_dangers

from portwatch.core.knowledge.catalog import load_catalog
from portwatch.core.model import Proto
from portwatch.core.monitor import Monitor
from portwatch.core.output import export, records
from portwatch.core.probe.scanner import ListenerScanner
from portwatch.core.store.history import HistoryReader, HistoryStore
from portwatch.core.text import encodable, visible

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="hostile names are made with Linux symlinks and /proc")


def truth(pid: int) -> dict:
    """What the OS says about the process (psutil, the scanner's own source)."""
    proc = psutil.Process(pid)
    return {"name": proc.name(), "exe": proc.exe(), "cmdline": proc.cmdline()}


def our_rows(rows, hostile):
    ports = {(p.proto, p.port, p.pid): label for label, p in hostile.items()}
    found = {}
    for row in rows:
        sock = row.listener if hasattr(row, "listener") else row
        label = ports.get((sock.proto.value, sock.port, sock.pid))
        if label is not None:
            found[label] = row
    assert set(found) == set(hostile), f"missing: {set(hostile) - set(found)}"
    return found


def all_strings() -> list[str]:
    """Every hostile string as Python reads it (surrogate escapes for bad bytes)."""
    return [os.fsdecode(b) for b in (*HOSTILE_NAMES.values(), *HOSTILE_ARGS.values())]


def test_every_hostile_string_becomes_inert_visible_text():
    """visible(): no raw control, bidi or surrogate character survives; markup characters
    stay as the literal text they are; undecodable bytes show as \\xNN."""
    record("hostile inputs (distinct strings)", len(all_strings()) + 1)  # + the exe path
    for text in all_strings():
        shown = visible(text)
        assert not raw_dangers(shown), (text, shown)
        shown.encode("utf-8")  # always encodable
        tally("hostile input checks (input x surface)")
    assert visible("<img src=x onerror=alert(1)>") == "<img src=x onerror=alert(1)>"
    assert visible("evil\u202etxt.exe") == "evil\\u202etxt.exe"
    assert visible("\x1b[2J") == "\\x1b[2J"
    assert visible(os.fsdecode(b"bad\xff\xfename")) == "bad\\xff\\xfename"
    assert encodable(os.fsdecode(b"bad\xff\xfe\x1b")) == "bad\\xff\\xfe\x1b"  # only bad bytes


@pytest.mark.parametrize("fast", [False, True])
def test_the_scan_reads_hostile_processes_exactly(hostile, fast):
    scanner = ListenerScanner(fast=fast)
    try:
        rows = our_rows(scanner.scan().listeners, hostile)
    finally:
        scanner.close()
    for label, row in rows.items():
        real = truth(hostile[label].pid)
        assert row.process.name == real["name"]
        assert list(row.process.cmdline) == real["cmdline"]
        assert row.process.exe == real["exe"]
    assert "\udcff" in rows["exe"].process.exe  # the undecodable path really is one
    assert "\udcff" in rows["name:undecodable"].process.name
    assert any(len(arg) == 100 * 1024 for arg in rows["args"].process.cmdline)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    return subprocess.run([sys.executable, "-m", "portwatch", *args], capture_output=True,
                          timeout=120, cwd=REPO, env=env)


def test_list_prints_no_raw_control_bidi_or_undecodable_text(hostile):
    result = run_cli("list")
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    text = result.stdout.decode("utf-8")  # strict: the output is valid UTF-8
    for line in text.splitlines():
        assert not raw_dangers(line), repr(line)
    assert "\x1b" not in text and "\u202e" not in text
    for label, proc in hostile.items():
        name = truth(proc.pid)["name"]
        # into a pipe every cell is printed in full (the width fitting is for terminals)
        assert visible(name) in text, (label, visible(name))
        tally("hostile input checks (input x surface)")


def test_list_json_is_valid_and_keeps_the_exact_strings(hostile):
    result = run_cli("list", "--json")
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    raw = result.stdout.decode("utf-8")
    assert not raw_dangers(raw)  # every control character is a JSON escape
    records_ = json.loads(raw)
    by_key = {(r["proto"], r["port"], r["pid"]): r for r in records_}
    for label, proc in hostile.items():
        record = by_key[(proc.proto, proc.port, proc.pid)]
        real = truth(proc.pid)
        assert record["process"] == real["name"], label
        assert record["cmdline"] == real["cmdline"], label
        assert record["exe"] == real["exe"], label
        tally("hostile input checks (input x surface)")


@pytest.fixture(scope="module")
def annotated(hostile):
    catalog = load_catalog(None)
    scanner = ListenerScanner()
    try:
        listeners = scanner.scan().listeners
    finally:
        scanner.close()
    rows = our_rows(listeners, hostile)
    return {label: catalog.annotate(row) for label, row in rows.items()}


def test_json_carries_undecodable_bytes_only_as_ascii_escapes():
    """Why every JSON writer keeps json.dumps's default ensure_ascii: an undecodable name is a
    lone surrogate, which json escapes as \\udcff (valid JSON, read back exactly) but which
    cannot be encoded as UTF-8 when written raw."""
    name = os.fsdecode(b"bad\xff")
    text = json.dumps({"process": name})
    assert text.isascii() and json.loads(text)["process"] == name
    assert os.fsencode(json.loads(text)["process"]) == b"bad\xff"  # the original bytes
    with pytest.raises(UnicodeEncodeError):
        json.dumps({"process": name}, ensure_ascii=False).encode("utf-8")
    tally("hostile input checks (input x surface)")


def test_json_exports_keep_the_exact_strings(annotated, tmp_path):
    target = export.export_listeners(annotated.values(), tmp_path / "table.json")
    data = json.loads(target.read_bytes().decode("utf-8"))
    exported = {(r["port"], r["pid"]): r for r in data}
    for row in annotated.values():
        record = exported[(row.listener.port, row.listener.pid)]
        assert record == json.loads(json.dumps(records.listener_record(row)))
        assert record["process"] == row.listener.process.name
        assert record["cmdline"] == list(row.listener.process.cmdline)
        tally("hostile input checks (input x surface)")


def test_csv_exports_are_utf8_with_formulas_neutralised(annotated, tmp_path):
    target = export.export_listeners(annotated.values(), tmp_path / "table.csv")
    text = target.read_bytes().decode("utf-8-sig")  # strict: no lone surrogate was written
    cells = list(csv.DictReader(io.StringIO(text, newline="")))
    by_port = {int(cell["port"]): cell for cell in cells}
    for row in annotated.values():
        cell = by_port[row.listener.port]
        proc = row.listener.process
        expected = encodable(proc.name)
        if expected.lstrip(" ").startswith(export.FORMULA_TRIGGERS):
            expected = "'" + expected
        assert cell["process"] == expected
        assert cell["exe"] == export.neutralise(encodable(proc.exe))
        for value in cell.values():  # nothing a spreadsheet would run
            assert not value.lstrip(" ").startswith(export.FORMULA_TRIGGERS), value
        tally("hostile input checks (input x surface)")
    assert any(len(cell["cmdline"]) > 100 * 1024 for cell in cells)  # the 100 KB argument


def test_the_history_stores_hostile_rows_and_loses_no_event(hostile, tmp_path):
    """A poll whose rows hold undecodable text is recorded whole (SQLite takes only UTF-8):
    no event of that poll, hostile or not, is lost."""
    scanner = ListenerScanner()
    store = HistoryStore(tmp_path / "history.sqlite3")
    monitor = Monitor(scanner.scan, load_catalog(None), history=store)
    try:
        first = monitor.poll()
        assert not first.problems, first.problems
        victim = hostile["name:undecodable"]
        victim.stop()
        deadline = time.monotonic() + 10
        while True:
            later = monitor.poll()
            assert not later.problems, later.problems
            if any(row.listener.port == victim.port and row.listener.pid == victim.pid
                   for row in later.closed):
                break
            assert time.monotonic() < deadline, "the closed listener was never seen"
            time.sleep(0.1)
    finally:
        store.close()
        scanner.close()
    with HistoryReader(tmp_path / "history.sqlite3") as reader:
        events = reader.events()
    present = [e for e in events if e.event == "present"]
    assert len(present) == len(first.rows)  # every row of the first poll, hostile or not
    stored = {(e.listener.port, e.listener.pid): e for e in present}
    for proc in hostile.values():
        event = stored[(proc.port, proc.pid)]
        info = event.listener.process
        assert visible(info.name) == visible(truth_name(proc, first))
        assert info.name.encode("utf-8")
        tally("hostile input checks (input x surface)")
    closed = [e for e in events if e.event == "closed" and e.listener.port == victim.port
              and e.listener.pid == victim.pid]
    assert closed and closed[0].listener.process.name == encodable(
        truth_name(victim, first))


def truth_name(proc, result) -> str:
    for row in result.rows:
        if row.listener.port == proc.port and row.listener.pid == proc.pid:
            return row.listener.process.name
    raise AssertionError(f"{proc.label} not in the poll")


def test_history_survives_a_hostile_identity_in_the_alert_memory(tmp_path):
    """The alert memory (known listeners) stores the program: an undecodable executable path
    must neither fail the rules nor come back as a different identity after a restart."""
    from portwatch.core.alerts.rules import AlertRules
    from portwatch.core.model import (
        AnnotatedListener,
        Exposure,
        Family,
        Listener,
        ListenerIdentity,
        ProcessInfo,
    )

    bad = os.fsdecode(b"/tmp/dir\xff\xfe/py\xff")
    row = AnnotatedListener(Listener(Proto.TCP, Family.IPV4, "127.0.0.1", 4444,
                                     Exposure.LOOPBACK, ProcessInfo(77, "py\udcff", exe=bad)))
    store = HistoryStore(tmp_path / "h.sqlite3")
    try:
        store.remember([ListenerIdentity.of(row.listener)])
        rules = AlertRules(store)
        assert ListenerIdentity.of(row.listener) in store.known_identities()
        del rules
    finally:
        store.close()
    again = HistoryStore(tmp_path / "h.sqlite3")
    try:
        assert ListenerIdentity.of(row.listener) in again.known_identities()
    finally:
        again.close()
    tally("hostile input checks (input x surface)")


def test_watch_json_and_human_lines_are_safe():
    from portwatch.commands.watch import human_line
    from portwatch.core.model import (
        AnnotatedListener,
        Exposure,
        Family,
        Listener,
        ProcessInfo,
    )

    for text in all_strings():
        row = AnnotatedListener(Listener(Proto.TCP, Family.IPV4, "127.0.0.1", 5555,
                                         Exposure.LOOPBACK,
                                         ProcessInfo(9, text, text, text, (text, text))))
        line = human_line("opened", time.time(), row)
        assert not raw_dangers(line), repr(line)
        line.encode("utf-8")
        record = json.loads(json.dumps(export.event_record("opened", time.time(), row)))
        assert record["process"] == text and record["cmdline"] == [text, text]
        tally("hostile input checks (input x surface)")


def test_an_ignore_rule_for_an_undecodable_name_still_matches_after_a_restart(tmp_path):
    from portwatch.core.model import Exposure, Family, IgnoreRule, Listener, ProcessInfo

    name = os.fsdecode(b"svc\xff\xfe")
    sock = Listener(Proto.TCP, Family.IPV4, "127.0.0.1", 4545, Exposure.LOOPBACK,
                    ProcessInfo(12, name, exe=os.fsdecode(b"/opt/\xff/svc")))
    rule = IgnoreRule(process=name)
    assert rule.matches(sock)
    store = HistoryStore(tmp_path / "h.sqlite3")
    try:
        store.add_ignore_rule(rule)
    finally:
        store.close()
    again = HistoryStore(tmp_path / "h.sqlite3")
    try:
        (stored,) = again.ignore_rules()
    finally:
        again.close()
    assert stored == rule and stored.matches(sock)
    assert IgnoreRule(process=sock.process.exe).matches(sock)
    tally("hostile input checks (input x surface)")
