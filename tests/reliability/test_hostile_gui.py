"""Hostile process text in the window and the notifications, from real processes (see
rel_hostile.py): the table's cells, every tooltip, the details pane, its "Copy as text", the
terminate confirmation and messages, and the notification body sent over D-Bus all show the
text literally (control, bidi and undecodable characters as visible escapes), never as markup.
"""

from __future__ import annotations

import html
import sys

import pytest
from PySide6.QtGui import QGuiApplication, QTextDocument
from rel_common import tally
from rel_hostile import HOSTILE_NAMES, raw_dangers, start_named

from portwatch.core.alerts.memory import InMemoryAlertMemory
from portwatch.core.alerts.rules import AlertRules
from portwatch.core.fields import FLAG_MARKER
from portwatch.core.knowledge.catalog import load_catalog
from portwatch.core.model import Snapshot
from portwatch.core.monitor import Monitor
from portwatch.core.probe.scanner import ListenerScanner
from portwatch.core.text import visible
from portwatch.gui.models.listener_model import Column, ListenerModel
from portwatch.gui.notify import bus, freedesktop
from portwatch.gui.views.details_pane import DetailsPane

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="hostile names are made with Linux symlinks and /proc")

TOOLTIP_ROLE = 3  # Qt.ToolTipRole


@pytest.fixture(scope="module")
def ours(hostile):
    """A scan function that reports only the hostile listeners (and, until `show` is set,
    none of them: the baseline a later alert needs)."""
    scanner = ListenerScanner()
    keys = {(p.proto, p.port, p.pid) for p in hostile.values()}

    class Scan:
        show = True

        def __call__(self) -> Snapshot:
            snap = scanner.scan()
            rows = tuple(r for r in snap.listeners if self.show
                         and (r.proto.value, r.port, r.pid) in keys)
            return Snapshot(snap.taken_at, rows)

    yield Scan()
    scanner.close()


@pytest.fixture(scope="module")
def result(ours, hostile):
    ours.show = True
    poll = Monitor(ours, load_catalog(None)).poll()
    assert len(poll.rows) == len(hostile)
    return poll


def rendered(html: str) -> QTextDocument:
    doc = QTextDocument()
    doc.setHtml(html)
    return doc


def process_texts(item) -> list[str]:
    proc = item.listener.process
    return [proc.name, proc.exe or "", *proc.cmdline]


def test_table_cells_and_tooltips_show_hostile_text_literally(qtbot, result):
    model = ListenerModel()
    model.apply(result)
    for row in range(model.rowCount()):
        item = model.item_at(row)
        proc = item.listener.process
        for column in Column:
            index = model.index(row, column)
            text = model.data(index) or ""
            assert not raw_dangers(text), (column, text)
            tip = model.data(index, TOOLTIP_ROLE) or ""
            doc = rendered(tip)
            shown = doc.toPlainText()
            assert not raw_dangers(shown), (column, shown)
            assert "<img" not in doc.toHtml().split("<body", 1)[-1]  # no image was made
        flagged = proc.provenance is not None and bool(proc.provenance.flags)
        marker = FLAG_MARKER if flagged else ""  # renamed processes: name-mismatch, etc.
        assert model.data(model.index(row, Column.PROCESS)) == marker + visible(proc.name, 80)
        tip = rendered(model.data(model.index(row, Column.PROCESS), TOOLTIP_ROLE)).toPlainText()
        assert visible(proc.name) in tip  # the literal text, markup characters and all
        assert visible(proc.exe) in tip
        if "<b>x</b>" in proc.cmdline:
            assert "<b>x</b>" in tip  # shown, not made bold
        tally("hostile input checks (input x surface)", 2)


def test_details_pane_renders_markup_as_text_and_copies_plain_text(qtbot, result):
    pane = DetailsPane()
    qtbot.addWidget(pane)
    for item in result.rows:
        pane.show_listener(item)
        qtbot.waitUntil(lambda: pane._details is not None, timeout=10000)
        if item.listener.process.exe:
            qtbot.waitUntil(lambda: pane._digest is not None, timeout=10000)
        shown = pane.view.toPlainText()
        assert not raw_dangers(shown)
        body = pane.view.toHtml().split("<body", 1)[-1]
        assert "<img" not in body and "<script" not in body and "<b>" not in body
        for text in process_texts(item):
            if len(text) < 1000:
                assert visible(text) in shown, text
        pane.copy_as_text()
        copied = QGuiApplication.clipboard().text()
        assert not raw_dangers(copied.replace("\n", ""))
        assert visible(item.listener.process.name) in copied
        tally("hostile input checks (input x surface)", 2)
    pane.shutdown()


def test_terminate_confirmation_and_messages_show_the_name_safely(qtbot, tmp_path):
    """The confirmation names the process as the table shows it, and the outcome message too
    (a right-to-left override must not make one program read like another)."""
    victim = start_named(tmp_path, "rlo", HOSTILE_NAMES["rlo"] + b"\x1b[2J")
    scanner = ListenerScanner()
    try:
        (found,) = [r for r in scanner.scan().listeners
                    if r.pid == victim.pid and r.port == victim.port]
        item = load_catalog(None).annotate(found)
        pane = DetailsPane()
        qtbot.addWidget(pane)
        asked: list[str] = []
        messages: list[str] = []
        pane.confirm = lambda _parent, name, _pid, _where: asked.append(name) or True
        pane.message.connect(messages.append)
        pane.show_listener(item)
        with qtbot.waitSignal(pane.terminate_finished, timeout=10000) as finished:
            pane.request_terminate()
        outcome = finished.args[0]
        assert outcome.stopped, outcome.message
        assert asked == [visible(found.process.name)]
        for text in (*messages, outcome.message):
            assert not raw_dangers(text), text
        assert visible(found.process.name) in outcome.message
        pane.shutdown()
    finally:
        scanner.close()
        victim.stop()
    tally("hostile input checks (input x surface)")


def test_notification_bodies_are_escaped_and_encodable(qtbot, ours, hostile):
    from jeepney.low_level import Message

    ours.show = False
    rules = AlertRules(InMemoryAlertMemory(), min_polls=0, coalesce=1000, rate_limit=0)
    monitor = Monitor(ours, load_catalog(None), alert_rules=rules)
    assert monitor.poll().alerts == ()  # the baseline
    ours.show = True
    alerts = monitor.poll().alerts
    named = {row.listener.pid for alert in alerts for row in alert.listeners}
    # Every hostile TCP listener alerts (UDP on an ephemeral port is silenced by default).
    assert named >= {p.pid for p in hostile.values() if p.proto == "tcp"}
    for alert in alerts:
        body = freedesktop.notification_body(alert.body)
        assert "<" not in body and ">" not in body  # every markup character is escaped
        assert not raw_dangers(body.replace("\n", ""))
        assert not raw_dangers(alert.title)
        for row in alert.listeners:
            assert html.escape(visible(row.listener.process.name, 60), quote=False) in body
        message = bus.method_call("Notify", "susssasa{sv}i", freedesktop.notify_arguments(
            alert, frozenset({"body", "body-markup", "actions"}), "portwatch"))
        assert isinstance(message, Message)
        message.serialise(serial=1)  # the D-Bus encoding (UTF-8) of every string succeeds
        tally("hostile input checks (input x surface)")
