"""The listener table's delegate and view paint exactly what Qt's own delegate and view paint
from data(): the same pixels for normal, new (bold, green), closing (struck out, red), muted
and risk-icon cells, selected or not, focused or not, in the light and the dark palette, when
a cell or a row picture is made and when it is copied, also after the rows changed, moved and
changed colour, and with the view scrolled both ways and its columns moved and hidden."""

from __future__ import annotations

from gui_rows import FixedCatalog, ScriptedMonitor, listener
from PySide6.QtWidgets import QApplication, QStyledItemDelegate
from test_dark_mode import scheme  # noqa: F401 (the fixture)

from portwatch.core.store.settings import Settings
from portwatch.gui.models.listener_model import RowState
from portwatch.gui.views.cell_delegate import ListenerDelegate
from portwatch.gui.views.listener_table import HIDDEN_COLUMNS
from portwatch.gui.views.main_window import MainWindow


def picture(window, delegate):
    window.table.setItemDelegate(delegate)
    QApplication.processEvents()
    return window.table.viewport().grab().toImage()


def test_the_fast_delegate_paints_the_same_pixels(qtbot, scheme):  # noqa: F811
    window = MainWindow(Settings(), FixedCatalog())
    qtbot.addWidget(window)
    scripted = ScriptedMonitor()
    window.apply_poll(scripted.poll([listener(22, address="0.0.0.0"), listener(80),
                                     listener(3389, address="0.0.0.0"), listener(47999),
                                     listener(53, proto="udp")]))
    window.apply_poll(scripted.poll([listener(22, address="0.0.0.0"), listener(80),
                                     listener(3389, address="0.0.0.0"), listener(8080)]))
    states = {window.model.state_at(r) for r in range(window.model.rowCount())}
    assert states == {RowState.NORMAL, RowState.NEW, RowState.CLOSING}
    window.resize(1400, 500)
    window.show()
    qtbot.waitExposed(window)
    window.table.selectRow(1)
    assert isinstance(window.table.itemDelegate(), ListenerDelegate)  # what the window uses
    for choice in ("light", "dark"):
        scheme.set_choice(choice)
        fast = picture(window, ListenerDelegate(window.proxy, window.table))
        plain = picture(window, QStyledItemDelegate(window.table))
        assert fast == plain, choice

    kept = ListenerDelegate(window.proxy, window.table)  # its painted cells stay between pictures
    plain_delegate = QStyledItemDelegate(window.table)
    for step, rows in enumerate([
            [listener(22, address="0.0.0.0"), listener(80), listener(3389, address="0.0.0.0"),
             listener(8080)],
            [listener(22, address="0.0.0.0"), listener(80, user="bob"), listener(81),
             listener(3389, address="0.0.0.0", name="xrdp"), listener(8080)],
            [listener(21), listener(22, address="0.0.0.0"), listener(80, user="carol"),
             listener(3389, address="0.0.0.0", name="xrdp")]]):
        if step:
            window.apply_poll(scripted.poll(rows))  # rows change, arrive above, leave, turn red
        for choice in ("light", "dark", "light"):
            scheme.set_choice(choice)
            picture(window, plain_delegate)  # the view settles (its scroll bar comes or goes)
            for _twice in range(2):  # painted, then copied
                assert picture(window, kept) == picture(window, plain_delegate), (step, choice)


def test_row_pictures_match_qt_scrolled_both_ways_with_moved_columns_and_no_focus(
        qtbot, scheme):  # noqa: F811
    """The window's view copies row pictures (row_pictures.py); Qt's own loop paints with
    any other delegate. Rows scrolled to an odd offset (the other row colour), columns moved,
    one hidden and one shown, the table scrolled sideways, the selected row without the
    keyboard focus (then it is a picture too), light and dark."""
    window = MainWindow(Settings(), FixedCatalog())
    qtbot.addWidget(window)
    scripted = ScriptedMonitor()
    rows = [listener(22, address="0.0.0.0"), listener(3389, address="0.0.0.0"),
            listener(53, proto="udp"), *(listener(2000 + i, pid=300 + i) for i in range(60))]
    window.apply_poll(scripted.poll(rows))
    window.apply_poll(scripted.poll([*rows[1:], listener(8080)]))  # one red, one green
    window.resize(900, 500)
    window.show()
    qtbot.waitExposed(window)
    table = window.table
    header = table.horizontalHeader()
    header.moveSection(header.visualIndex(4), 0)  # (Address, first)
    table.setColumnHidden(6, True)
    table.setColumnHidden(int(HIDDEN_COLUMNS[0]), False)
    table.selectRow(9)
    window.filter_bar.search.setFocus()
    qtbot.waitUntil(lambda: not table.hasFocus())
    table.verticalScrollBar().setValue(7)
    table.horizontalScrollBar().setValue(table.horizontalScrollBar().maximum() // 2)
    assert table.horizontalScrollBar().value() > 0
    kept = ListenerDelegate(window.proxy, table)
    plain_delegate = QStyledItemDelegate(table)
    for choice in ("light", "dark"):
        scheme.set_choice(choice)
        picture(window, plain_delegate)  # the view settles
        made = table.pictures_made
        for _twice in range(2):  # made, then copied
            assert picture(window, kept) == picture(window, plain_delegate), choice
        assert table.pictures_made > made  # (the pictures were really used)
