"""GiveWayRow: when the row is short of room its widgets give way in their set order, each down
to its minimum (a QHBoxLayout shared the shortage out equally); spare room goes to the stretch;
hidden widgets take none; right-to-left mirrors the row."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

from portwatch.gui.views.elided_label import ElidedLabel
from portwatch.gui.views.give_way_row import GiveWayRow

TEXTS = ("1 listening · 1 reachable from the network", "hosts: alice@web1 connecting…",
         "Scan incomplete: the network namespace of 1 process(es) is hidden from portwatch")


def row(qtbot, width: int, direction=Qt.LayoutDirection.LeftToRight):
    parent = QWidget()
    qtbot.addWidget(parent)
    parent.setLayoutDirection(direction)
    layout = GiveWayRow(parent)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(10)
    counts, hosts, problem = (ElidedLabel(text, parent, min_chars=12) for text in TEXTS)
    layout.add(counts)
    layout.add(hosts, give_way=1)
    layout.add(problem, give_way=2, stretch=1)
    parent.resize(width, 30)
    parent.show()
    qtbot.waitExposed(parent)
    return parent, layout, counts, hosts, problem


def test_widgets_give_way_one_after_another(qtbot):
    parent, layout, counts, hosts, problem = row(qtbot, 2000)
    natural = {label: label.sizeHint().width() for label in (counts, hosts, problem)}
    assert counts.width() == natural[counts] and hosts.width() == natural[hosts]
    assert problem.width() > natural[problem]  # the spare room
    need = layout.sizeHint().width()
    narrow = natural[hosts] - hosts.minimumSizeHint().width()
    for short, hosts_width, problem_width in (
            (narrow // 2, natural[hosts] - narrow // 2, natural[problem]),
            (narrow + 20, hosts.minimumSizeHint().width(), natural[problem] - 20)):
        wanted = need - short
        parent.resize(wanted, 30)
        qtbot.waitUntil(lambda wanted=wanted: parent.width() == wanted, timeout=30_000)
        layout.activate()
        assert (hosts.width(), problem.width()) == (hosts_width, problem_width)
        assert counts.width() == natural[counts]  # not numbered: gives way last
        assert counts.shown_text() == counts.text()
    assert layout.minimumSize().width() == sum(
        label.minimumSizeHint().width() for label in (counts, hosts, problem)) + 2 * 10


def test_hidden_widgets_take_no_room_and_right_to_left_mirrors(qtbot):
    parent, layout, counts, hosts, problem = row(qtbot, 2000, Qt.LayoutDirection.RightToLeft)
    hosts.hide()
    layout.activate()
    assert counts.geometry().right() == parent.rect().right()  # first, at right
    assert problem.geometry().right() == counts.geometry().left() - 10 - 1
    assert layout.sizeHint().width() == (counts.sizeHint().width()
                                         + problem.sizeHint().width() + 10)
