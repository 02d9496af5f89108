"""The main window: filter bar, live table of listeners, details pane, status bar and menus.

It only renders and asks: polls arrive through `apply_poll()`, and the window emits
`refresh_requested`, `pause_requested(bool)` and `settings_changed(Settings)` for the
composition root (app.py) to act on, and `ignore_requested(AnnotatedListener)`,
`acknowledge_requested(AnnotatedListener)` and `alert_rules_requested` for the alert rules
editor (rules_editor.py), whose entries stay disabled until `enable_alert_rules()`. Extension
points for other features:

- `tabs` (a QTabWidget) holds the "Listeners" tab; `add_tab(widget, title)` adds more
  (History);
- `banner_area` is a vertical layout above the filter bar (for a notice that may push the
  table); `add_banner(widget)` puts the alert list in the Alerts dock instead, which the
  toolbar's *Alerts (N)* button opens (alert_dock.py);
- `select_listener(key)` shows the window, clears filters hiding the row, selects and reveals
  it (what clicking a notification does);
- `file_menu`, `view_menu`, `tools_menu`, `help_menu` take more actions (File has Export
  listeners… and Export history…: export_actions.py);
- `close_hides = True` makes closing the window hide it (when a tray icon exists).
"""

from __future__ import annotations

import dataclasses
import logging

from PySide6.QtCore import (
    QEvent,
    QItemSelectionModel,
    QModelIndex,
    QPoint,
    Qt,
    QTimer,
    Signal,
    Slot,
)
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QHeaderView,
    QMainWindow,
    QMenu,
    QMessageBox,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from portwatch import __version__
from portwatch.core import fields
from portwatch.core.model import AnnotatedListener, ListenerKey, Proto
from portwatch.core.monitor import PollResult
from portwatch.core.probe import TerminateResult, age_text
from portwatch.core.store.settings import Settings
from portwatch.gui.alerts.alert_dock import install_alert_dock
from portwatch.gui.models.filter_proxy import ListenerFilter, ListenerFilterProxy
from portwatch.gui.models.listener_model import (
    HEADERS,
    ROW_ROLE,
    STATE_ROLE,
    Column,
    ListenerModel,
    RowState,
)
from portwatch.gui.style import risk_style
from portwatch.gui.views.cell_delegate import ListenerDelegate
from portwatch.gui.views.column_chooser import ColumnChooser
from portwatch.gui.views.details_pane import DetailsPane
from portwatch.gui.views.export_actions import ExportActions
from portwatch.gui.views.filter_bar import FilterBar
from portwatch.gui.views.help_dialogs import install_help
from portwatch.gui.views.lookup_dialog import LookupDialog
from portwatch.gui.views.preferences import Autostart, PreferencesDialog, apply_start_at_login
from portwatch.gui.views.status import StatusSummary

log = logging.getLogger(__name__)

# Set once, never per poll: resizing to contents costs ~300 ms on 2,000 rows.
COLUMN_WIDTHS = {**{Column(number): field.width for number, field in enumerate(fields.TABLE)},
                 Column.FIRST_SEEN: 80}
HIDDEN_COLUMNS = (Column.ORIGIN,)  # until chosen in the header's right-click menu


NOTICE_MS = 30_000


class MainWindow(QMainWindow):
    refresh_requested = Signal()
    pause_requested = Signal(bool)  # True: pause monitoring
    settings_changed = Signal(object)  # Settings, after the user accepted Preferences
    ignore_requested = Signal(object)  # AnnotatedListener: make an ignore rule from it
    acknowledge_requested = Signal(object)  # AnnotatedListener: never alert for it again
    alert_rules_requested = Signal()  # Tools > Alert rules…

    def __init__(self, settings: Settings, catalog: object | None = None,
                 parent: QWidget | None = None, *, model: ListenerModel | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("portwatch")
        self.setObjectName("mainWindow")
        self.settings = settings
        self.catalog = catalog
        self.close_hides = False
        self._lookup: LookupDialog | None = None
        self._preferences: PreferencesDialog | None = None
        self.autostart = Autostart()  # start at login (core/desktop/autostart.py); tests replace it
        self._polled = False
        self._alert_rules = False  # whether anything stores ignore rules and acknowledgements
        self._notices: list[str] = []  # start-up problems shown together
        self._notice_timer = QTimer(self)
        self._notice_timer.setSingleShot(True)
        self._notice_timer.timeout.connect(self._notices.clear)

        self.model = model or ListenerModel(self)
        self.proxy = ListenerFilterProxy(self)
        self.proxy.setSourceModel(self.model)

        self.table = self._build_table()
        self.details = DetailsPane(self)
        self.filter_bar = FilterBar(self)
        self.status = StatusSummary(self)
        self.statusBar().addPermanentWidget(self.status, 1)

        self.listeners_tab = QWidget(self)
        self.listeners_tab.setObjectName("listenersTab")
        self.banner_area = QVBoxLayout()
        self.banner_area.setContentsMargins(0, 0, 0, 0)
        self.splitter = QSplitter(Qt.Orientation.Vertical, self.listeners_tab)
        self.splitter.setObjectName("listenersSplitter")
        self.splitter.addWidget(self.table)
        self.splitter.addWidget(self.details)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([330, 370])  # a little more room for reading the details
        self.splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self.listeners_tab)
        layout.setContentsMargins(6, 6, 6, 0)
        layout.addLayout(self.banner_area)
        layout.addWidget(self.filter_bar)
        layout.addWidget(self.splitter, 1)

        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("mainTabs")
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.listeners_tab, "Listeners")
        self.setCentralWidget(self.tabs)
        self._build_menus()
        # Alerts live in a dock opened from the toolbar, never above the table (alert_dock.py)
        self.alert_dock = install_alert_dock(
            self, [self.refresh_action, self.pause_action, self.lookup_action])
        self.view_menu.addSeparator()
        self.view_menu.addAction(self.alert_dock.toggle_action)
        # Columns: shown, hidden and moved from the header's menu or View > Columns; the spare
        # width goes to the known uses and security notes (column_chooser.py)
        self.columns = ColumnChooser(self.table, stretch=(Column.USES, Column.SECURITY),
                                     keep=(Column.PORT,))
        self.view_menu.addMenu(self.columns.menu)
        self.resize(1280, 780)

        self.filter_bar.filter_changed.connect(self.proxy.set_filter)
        # Counted after the source model is done, not at the proxy's signals (the proxy drops
        # rows while the source is only about to remove them) nor at the source's last
        # rowsRemoved (it renumbers its rows after that); and once for a poll's many signals.
        self._count_timer = QTimer(self)
        self._count_timer.setSingleShot(True)
        self._count_timer.setInterval(0)
        self._count_timer.timeout.connect(self._update_count)
        for signal in (self.model.rowsInserted, self.model.rowsRemoved, self.model.modelReset):
            signal.connect(lambda *_args: self._count_timer.start())
        self.proxy.filter_changed.connect(self._update_count)
        self.proxy.dataChanged.connect(self._proxy_data_changed)
        self.proxy.rowsRemoved.connect(self._selection_may_have_gone)
        self.table.selectionModel().currentRowChanged.connect(self._current_changed)
        self.details.lookup_requested.connect(self.open_lookup)
        self.details.ignore_requested.connect(self.ignore_requested)
        self.details.message.connect(self.show_message)
        self.details.terminate_finished.connect(self._terminate_finished)

    # --- construction -------------------------------------------------------------------------
    def _build_table(self) -> QTableView:
        table = QTableView(self)
        table.setObjectName("listenerTable")
        table.setAccessibleName("Listening sockets")
        table.setAccessibleDescription(
            "One row per listening socket: risk as a word (High, Medium, Low, None), protocol,"
            " address, port, process, PID, user, registered service, known uses, security notes"
            " and first seen. New rows are bold, rows of closed sockets struck out.")
        table.setModel(self.proxy)
        table.setItemDelegate(ListenerDelegate(self.proxy, table))  # one Python call per cell
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        table.setSortingEnabled(True)
        table.sortByColumn(Column.RISK, Qt.SortOrder.AscendingOrder)  # highest risk first
        table.setWordWrap(False)
        table.setTextElideMode(Qt.TextElideMode.ElideRight)
        table.setAlternatingRowColors(True)
        table.setShowGrid(False)
        table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        table.customContextMenuRequested.connect(self._context_menu)
        row_menu = QAction("Menu of the selected row", table)  # the keyboard's right click
        row_menu.setShortcut(QKeySequence("Shift+F10"))
        row_menu.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        row_menu.triggered.connect(self._row_menu_from_keyboard)
        table.addAction(row_menu)
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
        header.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        header.customContextMenuRequested.connect(
            lambda point: self.columns_menu().popup(header.mapToGlobal(point)))
        return table

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

    def _build_menus(self) -> None:
        bar = self.menuBar()
        self.file_menu = bar.addMenu("&File")
        self.view_menu = bar.addMenu("&View")
        self.tools_menu = bar.addMenu("&Tools")
        self.help_menu = bar.addMenu("&Help")

        self.exports = ExportActions(self)
        for action in self.exports.actions:
            self.file_menu.addAction(action)
        self.file_menu.addSeparator()
        self.file_menu.aboutToShow.connect(self.exports.update_enabled)

        self.quit_action = QAction("&Quit", self)
        self.quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        self.quit_action.setMenuRole(QAction.MenuRole.QuitRole)
        self.quit_action.triggered.connect(QApplication.quit)
        self.file_menu.addAction(self.quit_action)

        self.refresh_action = QAction("&Refresh now", self)
        self.refresh_action.setShortcut(QKeySequence.StandardKey.Refresh)
        self.refresh_action.triggered.connect(self.refresh_requested)
        self.pause_action = QAction("&Pause monitoring", self)
        self.pause_action.setCheckable(True)
        self.pause_action.toggled.connect(self._pause_toggled)
        self.filter_action = QAction("&Filter…", self)
        self.filter_action.setShortcut(QKeySequence.StandardKey.Find)
        self.filter_action.triggered.connect(self.filter_bar.focus_search)
        self.clear_filter_action = QAction("&Show all listeners", self)
        self.clear_filter_action.triggered.connect(self.clear_filter)
        for action in (self.refresh_action, self.pause_action, self.filter_action,
                       self.clear_filter_action):
            self.view_menu.addAction(action)

        self.lookup_action = QAction("&Look up a port…", self)
        self.lookup_action.setShortcut(QKeySequence("Ctrl+L"))
        self.lookup_action.triggered.connect(lambda: self.open_lookup())
        self.preferences_action = QAction("&Preferences…", self)
        self.preferences_action.setShortcut(QKeySequence.StandardKey.Preferences)
        self.preferences_action.setMenuRole(QAction.MenuRole.PreferencesRole)
        self.preferences_action.triggered.connect(self.open_preferences)
        self.alert_rules_action = QAction("&Alert rules…", self)
        self.alert_rules_action.setObjectName("alertRulesAction")
        self.alert_rules_action.setToolTip("The ignore rules and acknowledged listeners, each"
                                           " removable")
        self.alert_rules_action.setEnabled(False)
        self.alert_rules_action.triggered.connect(self.alert_rules_requested)
        self.tools_menu.addAction(self.lookup_action)
        self.tools_menu.addAction(self.alert_rules_action)
        self.tools_menu.addAction(self.preferences_action)

        self.about_action = QAction("&About portwatch", self)
        self.about_action.setMenuRole(QAction.MenuRole.AboutRole)
        self.about_action.triggered.connect(self.show_about)
        self.help_menu.addAction(self.about_action)
        install_help(self, self.help_menu, self.about_action)  # Manual, Keyboard shortcuts

    # --- extension points ---------------------------------------------------------------------
    def add_tab(self, widget: QWidget, title: str) -> int:
        """Add a tab after "Listeners" (e.g. History); returns its index."""
        return self.tabs.addTab(widget, title)

    def enable_alert_rules(self, enabled: bool = True) -> None:
        """Turn on Ignore…, Acknowledge and Tools > Alert rules… (something now stores them)."""
        self._alert_rules = enabled
        self.alert_rules_action.setEnabled(enabled)
        self.details.set_ignore_available(enabled)

    def add_banner(self, widget: QWidget) -> None:
        """Put the alert list in the Alerts dock (its count goes on the toolbar button); it
        learns from the table when each listener was first seen."""
        if hasattr(widget, "first_seen"):
            widget.first_seen = self.model.first_seen_of  # type: ignore[attr-defined]
        self.alert_dock.set_banner(widget)

    def select_listener(self, key: ListenerKey) -> bool:
        """Show the window and select the row of `key` (clearing filters that hide it).
        False when no such listener is in the table any more."""
        self.tabs.setCurrentWidget(self.listeners_tab)
        self.show_normal_and_raise()
        source_row = self.model.row_of(key)
        if source_row is None:
            self.show_message("That listener is no longer open.")
            return False
        index = self.proxy.mapFromSource(self.model.index(source_row, 0))
        if not index.isValid():
            self.clear_filter()
            index = self.proxy.mapFromSource(self.model.index(source_row, 0))
        if not index.isValid():
            return False
        self.table.selectionModel().setCurrentIndex(
            index, QItemSelectionModel.SelectionFlag.ClearAndSelect
            | QItemSelectionModel.SelectionFlag.Rows)
        self.table.scrollTo(index, QAbstractItemView.ScrollHint.PositionAtCenter)
        self.table.setFocus()
        return True

    def shown_listeners(self) -> tuple[list[AnnotatedListener], int]:
        """The open listeners the table shows, in its order (filtered and sorted), and how
        many are open in all (rows of closed listeners, still red, are left out)."""
        proxy, model = self.proxy, self.model
        rows = []
        for row in range(proxy.rowCount()):
            source = proxy.mapToSource(proxy.index(row, 0)).row()
            if model.state_at(source) is not RowState.CLOSING:
                rows.append(model.item_at(source))
        return rows, model.open_count

    def history_view(self) -> QWidget | None:
        """The History tab (a widget with `visible_events()`), when there is one."""
        for index in range(self.tabs.count()):
            widget = self.tabs.widget(index)
            if hasattr(widget, "visible_events"):
                return widget
        return None

    def show_normal_and_raise(self) -> None:
        if self.isMinimized():
            self.showNormal()
        self.show()
        self.raise_()
        self.activateWindow()

    def clear_filter(self) -> None:
        self.filter_bar.set_filter(ListenerFilter())

    # --- polls --------------------------------------------------------------------------------
    @Slot(object)
    def apply_poll(self, result: PollResult) -> None:
        """Apply one PollResult (connected to MonitorWorker.polled)."""
        self.model.apply(result)
        self.status.show_poll(result)
        if result.notices:  # the history stopped or resumed recording: said once
            self.show_problems(result.notices)
        if not self._polled:
            self._polled = True
            self._select_first_row()
            log.info("table populated: %d rows, %s", self.model.rowCount(), age_text())
        self._update_count()

    @Slot(str)
    def show_failure(self, message: str) -> None:
        """A poll failed (connected to MonitorWorker.failed)."""
        self.status.show_failure(message)

    @Slot(str)
    def show_notice(self, message: str) -> None:
        """A problem the user should know that is not a failed scan (from the worker)."""
        self.show_problems([message])

    def show_problems(self, messages: list[str] | tuple[str, ...]) -> None:
        """Problems found at start-up (settings, catalog, history): logged, and shown together
        in the status bar for half a minute (later ones join the earlier ones)."""
        for message in messages:
            log.warning("%s", message)
        if not messages:
            return
        self._notices.extend(messages)
        self.show_message(" ".join(self._notices), NOTICE_MS)
        self._notice_timer.start(NOTICE_MS)

    def show_message(self, text: str, timeout_ms: int = 8000) -> None:
        self.statusBar().showMessage(text, timeout_ms)

    def _select_first_row(self) -> None:
        if self.proxy.rowCount() and not self.table.selectionModel().hasSelection():
            self.table.selectRow(0)

    def _update_count(self, *_args: object) -> None:
        """"N shown" counts open listeners: rows fading out after closing are left out."""
        proxy, model = self.proxy, self.model
        fading = sum(1 for row in model.closing_rows()
                     if proxy.mapFromSource(model.index(row, 0)).isValid())
        self.filter_bar.show_count(proxy.rowCount() - fading, model.open_count)

    # --- selection and details ------------------------------------------------------------
    def selected_item(self) -> AnnotatedListener | None:
        index = self.table.selectionModel().currentIndex()
        return index.data(ROW_ROLE) if index.isValid() else None

    @Slot(QModelIndex, QModelIndex)
    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        self._show_details(current)

    def _show_details(self, index: QModelIndex) -> None:
        if not index.isValid():
            self.details.show_listener(None)
            return
        self.details.show_listener(index.data(ROW_ROLE),
                                   closing=index.data(STATE_ROLE) is RowState.CLOSING)

    def _proxy_data_changed(self, top_left: QModelIndex, bottom_right: QModelIndex,
                            _roles: object = None) -> None:
        current = self.table.selectionModel().currentIndex()
        if current.isValid() and top_left.row() <= current.row() <= bottom_right.row():
            self._show_details(current)

    def _selection_may_have_gone(self, *_args: object) -> None:
        current = self.table.selectionModel().currentIndex()
        self._show_details(current)

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

    # --- dialogs ------------------------------------------------------------------------------
    def open_lookup(self, port: int | None = None, proto: Proto | None = None) -> LookupDialog:
        if self._lookup is None:
            self._lookup = LookupDialog(self.catalog, self)
        if port is not None:
            self._lookup.show_port(port, proto or Proto.TCP)
        self._lookup.show()
        self._lookup.raise_()
        self._lookup.activateWindow()
        return self._lookup

    def open_preferences(self) -> PreferencesDialog:
        """Open Preferences (window-modal, returns at once). On OK: start at login is written
        or removed at once, and `settings_changed` carries the new settings when any changed."""
        if self._preferences is not None:
            self._preferences.raise_()
            self._preferences.activateWindow()
            return self._preferences
        dialog = PreferencesDialog(self.settings, self, autostart_backend=self.autostart)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self._preferences_accepted(dialog))
        dialog.finished.connect(self._preferences_closed)
        self._preferences = dialog
        dialog.open()
        return dialog

    def _preferences_closed(self, _result: int) -> None:
        self._preferences = None

    def _preferences_accepted(self, dialog: PreferencesDialog) -> None:
        new = dialog.result_settings()
        at_login, problem = apply_start_at_login(new.start_at_login, self.autostart)
        if at_login != new.start_at_login:
            new = dataclasses.replace(new, start_at_login=at_login)
        if problem:
            box = QMessageBox(QMessageBox.Icon.Warning, "Start at login", "",
                              QMessageBox.StandardButton.Ok, self)
            box.setTextFormat(Qt.TextFormat.PlainText)
            box.setText(problem)
            box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            box.open()
        if new != self.settings:
            self.settings = new
            self.settings_changed.emit(new)

    def show_about(self) -> None:
        QMessageBox.about(
            self, "About portwatch",
            f"<h3>portwatch {__version__}</h3>"
            "<p>Shows every port listening on this computer, which program opened it, what the"
            " port means (its IANA registration, the software that really uses it, its"
            " security history) and whether to worry.</p><p>MIT licence.</p>")

    def _pause_toggled(self, paused: bool) -> None:
        self.pause_requested.emit(paused)
        self.status.set_paused(paused)
        self.show_message("Monitoring paused." if paused else "Monitoring resumed.")

    # --- colours -------------------------------------------------------------------------------
    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            self.model.set_dark(risk_style.dark_palette_in_use())  # light or dark (theme.py)

    # --- closing ------------------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:
        if self.close_hides:
            event.ignore()
            self.hide()
            return
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop background jobs (the composition root calls this when the app quits)."""
        self.details.shutdown()
        self.exports.shutdown()
