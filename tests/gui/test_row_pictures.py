"""The listener table repaints a poll by copying row pictures: a poll whose changes are all
out of view paints no cell at all (no delegate call), a poll that changes one visible row
paints that row's cells once, and a repaint of an unchanged view paints nothing again; the
focused row and, with a style that draws hover, the hovered row are left to Qt's painting.
Counted, not timed (the times are in tests/perf/bench.py); the pixels are compared with Qt's
own painting in test_cell_delegate.py."""

from __future__ import annotations

import dataclasses

from gui_rows import ScriptedMonitor, listener
from PySide6.QtCore import QEvent, QObject, QPoint, QPointF, Qt
from PySide6.QtGui import QCursor, QHoverEvent
from PySide6.QtWidgets import QApplication

from portwatch.gui.models.filter_proxy import ListenerFilterProxy
from portwatch.gui.models.listener_model import ListenerModel
from portwatch.gui.views.cell_delegate import ListenerDelegate
from portwatch.gui.views.listener_table import listener_table_view

ROWS = 400


class CountingDelegate(ListenerDelegate):
    """The window's delegate, counting the cells it is asked to paint."""

    def __init__(self, proxy, parent) -> None:
        super().__init__(proxy, parent)
        self.cells: list[tuple[int, int]] = []

    def paint(self, painter, option, index) -> None:
        self.cells.append((index.row(), index.column()))
        super().paint(painter, option, index)


class Repaints(QObject):
    """The regions the viewport was asked to paint."""

    def __init__(self) -> None:
        super().__init__()
        self.regions: list = []

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint:
            self.regions.append(event.region())
        return False


def changed_user(item, user: str):
    return dataclasses.replace(item, process=dataclasses.replace(item.process, user=user))


def shown_table(qtbot, rows: int, repaints: QObject | None = None):
    """The window's table view (sorted by risk then port) with a counting delegate, shown at
    900×300 with `rows` listeners applied; (model, proxy, view, delegate, scripted monitor)."""
    model = ListenerModel(clock=lambda: 0.0)
    proxy = ListenerFilterProxy()
    proxy.setSourceModel(model)
    view = listener_table_view(proxy)
    qtbot.addWidget(view)
    delegate = CountingDelegate(proxy, view)
    view.setItemDelegate(delegate)
    if repaints is not None:
        view.viewport().installEventFilter(repaints)
    view.resize(900, 300)
    view.show()
    qtbot.waitExposed(view)
    scripted = ScriptedMonitor()
    model.apply(scripted.poll([listener(1000 + i, pid=10 + i) for i in range(rows)]))
    QApplication.processEvents()
    return model, proxy, view, delegate, scripted


def test_a_poll_paints_only_the_rows_it_changed_in_view(qtbot):
    repaints = Repaints()
    model, proxy, view, delegate, scripted = shown_table(qtbot, ROWS, repaints)
    current = [listener(1000 + i, pid=10 + i) for i in range(ROWS)]
    view.clearFocus()  # (Qt paints the focused row itself: the next test)
    assert not view.hasFocus()
    shown = [row for row in range(proxy.rowCount())
             if view.viewport().rect().intersects(view.visualRect(proxy.index(row, 0)))]
    columns = [c for c in range(proxy.columnCount()) if not view.isColumnHidden(c)
               and view.visualRect(proxy.index(0, c)).intersects(view.viewport().rect())]
    assert 5 < len(shown) < ROWS // 4 and proxy.index(0, 3).data() == "1000"
    view.viewport().update()  # (pictures for the unfocused view's look)
    QApplication.processEvents()
    view.viewport().update()  # the whole view again, nothing changed: copies only
    delegate.cells.clear()
    repaints.regions.clear()
    QApplication.processEvents()
    assert repaints.regions and delegate.cells == []

    # 1% churn out of view: a row changes, one closes (turns red), one opens (at the end)
    delegate.cells.clear()
    repaints.regions.clear()
    made = view.pictures_made
    current[300] = changed_user(current[300], "bob")
    del current[350]
    model.apply(scripted.poll([*current, listener(5000, pid=9999)]))
    assert proxy.rowCount() == ROWS + 1
    # Qt lays the view out again and repaints all of it (from a zero timer: the next turn)
    qtbot.waitUntil(lambda: bool(repaints.regions))
    QApplication.processEvents()
    assert delegate.cells == [] and view.pictures_made == made

    # one visible row changes: that row alone is painted, each of its cells once
    delegate.cells.clear()
    made = view.pictures_made
    row = shown[3]
    current[row] = changed_user(current[row], "carol")
    repaints.regions.clear()
    model.apply(scripted.poll([*current, listener(5000, pid=9999)]))
    qtbot.waitUntil(lambda: bool(repaints.regions))
    QApplication.processEvents()
    assert proxy.index(row, 6).data() == "carol"
    assert view.pictures_made == made + 1
    assert sorted(delegate.cells) == [(row, column) for column in columns]

    # and it is copied from then on
    delegate.cells.clear()
    view.viewport().update()
    QApplication.processEvents()
    assert delegate.cells == []


def test_the_focused_row_is_painted_by_qt(qtbot):
    _model, _proxy, view, delegate, _scripted = shown_table(qtbot, 50)
    view.setFocus()
    view.selectRow(2)
    QApplication.processEvents()
    qtbot.waitUntil(view.hasFocus)
    delegate.cells.clear()
    view.viewport().update()
    QApplication.processEvents()
    # the focused row's cells come from Qt's own loop (its blended focus frame); no others
    assert delegate.cells and {row for row, _column in delegate.cells} == {2}


def test_with_a_style_that_draws_hover_qt_paints_the_hovered_row(qtbot):
    """Fusion draws no hover (its views get no hover events); styles that do (Breeze, the
    Windows styles) set WA_Hover on the viewport. Then the row Qt saw hovered last is left
    to Qt's own painting, which knows its hover index."""
    _model, proxy, view, delegate, _scripted = shown_table(qtbot, 50)
    view.clearFocus()
    # The row under the mouse is Qt's too; an earlier test may have left the pointer on the view.
    QCursor.setPos(view.mapToGlobal(QPoint(-100, -100)))
    view.viewport().setAttribute(Qt.WidgetAttribute.WA_Hover, True)
    view.viewport().update()
    QApplication.processEvents()
    at = QPointF(view.visualRect(proxy.index(4, 2)).center())
    QApplication.sendEvent(view.viewport(), QHoverEvent(QEvent.Type.HoverEnter, at, at, QPointF()))
    delegate.cells.clear()
    view.viewport().update()
    QApplication.processEvents()
    assert delegate.cells and {row for row, _column in delegate.cells} == {4}
    QApplication.sendEvent(view.viewport(), QHoverEvent(QEvent.Type.HoverLeave, QPointF(-1, -1),
                                                        QPointF(-1, -1), at))
    delegate.cells.clear()
    view.viewport().update()
    QApplication.processEvents()
    assert delegate.cells == []  # row 4 again a copy (its picture, unhovered)
