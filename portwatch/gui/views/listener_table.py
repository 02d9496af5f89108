"""The listener table of the main window and what is done from it: the table view (its
row pictures, delegate, sort, header menu for choosing columns), the row's right-click menu
(also Shift+F10) and what follows terminating a process from it. `TableMixin` is a part of
MainWindow (which provides `proxy`, `details`, the signals and `refresh_requested`).
"""

from __future__ import annotations

from PySide6.QtCore import QAbstractItemModel, QPoint, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QMenu,
    QMessageBox,
    QTableView,
    QWidget,
)

from portwatch.core import fields
from portwatch.core.model import AnnotatedListener
from portwatch.core.probe import TerminateResult
from portwatch.gui.models.listener_model import HEADERS, ROW_ROLE, Column
from portwatch.gui.views.cell_delegate import ListenerDelegate
from portwatch.gui.views.row_pictures import RowPictureTable

# Set once, never per poll: resizing to contents costs ~300 ms on 2,000 rows.
COLUMN_WIDTHS = {**{Column(number): field.width for number, field in enumerate(fields.TABLE)},
                 Column.FIRST_SEEN: 80}
# Until chosen in the header's right-click menu; Host is shown once a remote host is added
HIDDEN_COLUMNS = (Column.ORIGIN, Column.HOST)


def listener_table_view(proxy: QAbstractItemModel, parent: QWidget | None = None
                        ) -> RowPictureTable:
    """The table view with the settings that decide what a repaint costs and looks like (the
    window's table; tests/gui/bench_listener_model.py times the same view)."""
    table = RowPictureTable(parent)  # one picture per row, not a Python call per cell
    table.setModel(proxy)
    table.setItemDelegate(ListenerDelegate(proxy, table))  # one Python call per cell painted
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setSortingEnabled(True)
    table.sortByColumn(Column.RISK, Qt.SortOrder.AscendingOrder)  # highest risk first
    table.setWordWrap(False)
    table.setTextElideMode(Qt.TextElideMode.ElideRight)
    table.setAlternatingRowColors(True)
    table.setShowGrid(False)
    vertical = table.verticalHeader()
    vertical.hide()
    vertical.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)  # no per-row measuring
    vertical.setDefaultSectionSize(table.fontMetrics().height() + 8)
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    header.setHighlightSections(False)
    for column, width in COLUMN_WIDTHS.items():
        table.setColumnWidth(column, width)
    for column in HIDDEN_COLUMNS:
        table.setColumnHidden(column, True)
    return table


class TableMixin:
    """The listener table's construction and its menus (part of MainWindow)."""

    def _build_table(self) -> QTableView:
        table = listener_table_view(self.proxy, self)
        table.setObjectName("listenerTable")
        table.setAccessibleName("Listening sockets")
        table.setAccessibleDescription(
            "One row per listening socket: risk as a word (High, Medium, Low, None), protocol,"
            " address, port, process, PID, user, registered service, known uses, security notes"
            " and first seen. New rows are bold, rows of closed sockets struck out.")
        table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        table.customContextMenuRequested.connect(self._context_menu)
        row_menu = QAction("Menu of the selected row", table)  # the keyboard's right click
        row_menu.setShortcut(QKeySequence("Shift+F10"))
        row_menu.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        row_menu.triggered.connect(self._row_menu_from_keyboard)
        table.addAction(row_menu)
        if self.settings.hosts:
            self.show_host_column(table)
        header = table.horizontalHeader()
        header.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        header.customContextMenuRequested.connect(
            lambda point: self.columns_menu().popup(header.mapToGlobal(point)))
        return table

    def show_host_column(self, table: QTableView | None = None) -> None:
        """Show the Host column beside Risk (a remote host was added)."""
        table = table or self.table
        if table.isColumnHidden(Column.HOST):
            header = table.horizontalHeader()
            header.moveSection(header.visualIndex(Column.HOST), 1)
            table.setColumnHidden(Column.HOST, False)

    def columns_menu(self) -> QMenu:
        """Which columns the table shows (the header's right-click menu); the choice is kept
        with the window's state."""
        menu = QMenu("Columns", self)
        for column in Column:
            if column is Column.RISK:
                continue
            action = menu.addAction(HEADERS[column])
            action.setCheckable(True)
            action.setChecked(not self.table.isColumnHidden(column))
            action.toggled.connect(
                lambda shown, column=column: self.table.setColumnHidden(column, not shown))
        return menu

    def _context_menu(self, point: QPoint) -> None:
        index = self.table.indexAt(point)
        if not index.isValid():
            return
        self.table.selectRow(index.row())
        menu = self.context_menu(index.data(ROW_ROLE))
        menu.exec(self.table.viewport().mapToGlobal(point))
        menu.deleteLater()

    def _row_menu_from_keyboard(self) -> None:
        index = self.table.currentIndex()
        if index.isValid():
            self._context_menu(self.table.visualRect(index).center())

    def context_menu(self, row: AnnotatedListener | None) -> QMenu:
        """The table's right-click menu for `row` (the selected row)."""
        menu = QMenu(self)
        menu.setObjectName("listenerMenu")
        menu.addAction("Copy as text", self.details.copy_as_text)
        menu.addAction("Look up port…", lambda: self.details.lookup_button.click())
        open_folder = menu.addAction("Open containing folder", self.details.open_folder)
        open_folder.setEnabled(self.details.folder_button.isEnabled())
        menu.addSeparator()
        acknowledge = menu.addAction("Acknowledge",
                                     lambda: self.acknowledge_requested.emit(row))
        acknowledge.setToolTip("Never alert for this program on this port with this exposure")
        ignore = menu.addAction("Ignore…", lambda: self.ignore_requested.emit(row))
        for action in (acknowledge, ignore):
            action.setEnabled(self._alert_rules and row is not None)
        menu.addSeparator()
        terminate = menu.addAction("Terminate process…", self.details.request_terminate)
        terminate.setEnabled(self.details.terminate_button.isEnabled())
        return menu

    def _terminate_finished(self, result: TerminateResult) -> None:
        self.refresh_requested.emit()
        if not result.stopped:
            box = QMessageBox(QMessageBox.Icon.Warning, "Process not stopped", "",
                              QMessageBox.StandardButton.Ok, self)
            box.setTextFormat(Qt.TextFormat.PlainText)
            box.setText(result.message)
            box.open()
