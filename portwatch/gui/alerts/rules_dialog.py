"""Tools > Alert rules…: every ignore rule and acknowledged listener, as the worker last sent
them, each removable (portwatch then alerts again).

It only shows and asks: the rules live in the worker's thread (rules_editor.py carries the
requests there and the `Decisions` back). Process names and paths come from other programs:
labels are Qt.PlainText, table cells are plain text by nature, tooltips go through
plain_tooltip().
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from portwatch.core.alerts.decisions import (
    Decisions,
    describe_identity,
    describe_rule,
    ports_text,
    program_text,
    proto_text,
)
from portwatch.core.model import IgnoreRule, ListenerIdentity
from portwatch.gui.style.plain import muted, plain_label, plain_tooltip


def _placeholder(item: QTableWidgetItem) -> QTableWidgetItem:
    """Words portwatch put in a cell ("any program"), told apart from a program's name."""
    font = item.font()
    font.setItalic(True)
    item.setFont(font)
    return item


class AlertRulesDialog(QDialog):
    """Every ignore rule and acknowledged listener, as the worker last sent them
    (`show_decisions`). Remove asks to alert again (`remove_rule_requested`,
    `unacknowledge_requested`); the dialog changes when the worker sends the new lists."""

    remove_rule_requested = Signal(object)  # IgnoreRule
    unacknowledge_requested = Signal(object)  # ListenerIdentity

    RULE_HEADERS = ("Program", "Ports", "Protocol")
    ACK_HEADERS = ("Program", "Protocol", "Port", "Exposure")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Alert rules")
        self.setObjectName("alertRulesDialog")
        self._decisions: Decisions | None = None
        self._values: dict[str, list[object]] = {}  # table name -> the value of each row
        intro = plain_label(
            "portwatch never alerts for what is listed here. Remove an entry to be alerted"
            " again: for a rule, when a listener it covered appears; for an acknowledged"
            " listener, the next time it starts listening.", self)
        intro.setWordWrap(True)

        self.rules_table = self._table("alertRulesTable", self.RULE_HEADERS)
        self.acks_table = self._table("acknowledgedTable", self.ACK_HEADERS)
        self.remove_rule_button = QPushButton("Remove", self)
        self.remove_rule_button.setObjectName("removeRuleButton")
        self.remove_rule_button.setToolTip("Delete the selected rules: what they covered alerts"
                                           " again")
        self.remove_ack_button = QPushButton("Remove", self)
        self.remove_ack_button.setObjectName("removeAcknowledgedButton")
        self.remove_ack_button.setToolTip("Alert again the next time the selected listeners"
                                          " start listening")
        self.rules_empty = muted(plain_label(
            "No ignore rules. Make one with Ignore… on an alert, under the details of a"
            " listener or in the table's right-click menu.", self))
        self.acks_empty = muted(plain_label(
            "No acknowledged listeners. Acknowledge an alert, or a listener in the table's"
            " right-click menu.", self))
        self.rules_box = self._group("Ignore rules", self.rules_table, self.rules_empty,
                                     self.remove_rule_button)
        self.acks_box = self._group("Acknowledged listeners", self.acks_table, self.acks_empty,
                                    self.remove_ack_button)

        self.status = plain_label("Reading the rules…", self)
        self.status.setObjectName("alertRulesStatus")
        self.status.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        bottom = QHBoxLayout()
        bottom.addWidget(self.status, 1)
        bottom.addWidget(buttons)

        self._layout = layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.rules_box, 1)
        layout.addWidget(self.acks_box, 1)
        layout.addStretch(0)
        layout.addLayout(bottom)
        for empty in (self.rules_empty, self.acks_empty):
            empty.hide()  # until the lists arrive

        self.remove_rule_button.clicked.connect(self._remove_rules)
        self.remove_ack_button.clicked.connect(self._remove_acks)
        self.rules_table.itemSelectionChanged.connect(self._update_buttons)
        self.acks_table.itemSelectionChanged.connect(self._update_buttons)
        self._update_buttons()
        self.resize(680, 520)

    def _table(self, name: str, headers: tuple[str, ...]) -> QTableWidget:
        table = QTableWidget(0, len(headers), self)
        table.setObjectName(name)
        table.setAccessibleName({"alertRulesTable": "Ignore rules",
                                 "acknowledgedTable": "Acknowledged listeners"}.get(name, name))
        table.setHorizontalHeaderLabels(list(headers))
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setWordWrap(False)
        table.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # paths: keep both ends
        table.setAlternatingRowColors(True)
        table.setShowGrid(False)
        table.verticalHeader().hide()
        table.verticalHeader().setDefaultSectionSize(table.fontMetrics().height() + 8)
        header = table.horizontalHeader()
        header.setHighlightSections(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in range(1, len(headers)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        return table

    def _group(self, title: str, table: QTableWidget, empty: QLabel,
               button: QPushButton) -> QGroupBox:
        box = QGroupBox(title, self)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(button)
        layout = QVBoxLayout(box)
        layout.addWidget(empty)
        layout.addWidget(table, 1)
        layout.addLayout(row)
        return box

    # -- contents ------------------------------------------------------------------------------

    @property
    def decisions(self) -> Decisions | None:
        return self._decisions

    def show_decisions(self, decisions: Decisions) -> None:
        """Fill both lists (keeps the selection of entries that are still there)."""
        self._decisions = decisions
        self.status.setText("")
        self._fill(self.rules_table, [
            (((program_text(rule.process), not rule.process),
              (ports_text(rule), rule.port_from is None), (proto_text(rule.proto), False)),
             describe_rule(rule), rule)
            for rule in decisions.ignore_rules])
        self._fill(self.acks_table, [
            (((program_text(item.program), not item.program), (proto_text(item.proto), False),
              (str(item.port), False), (item.exposure.label, False)),
             describe_identity(item), item)
            for item in decisions.acknowledged])
        # An empty list is a sentence saying how to fill it, not an empty table.
        for box, table, empty, button, rows in (
                (self.rules_box, self.rules_table, self.rules_empty, self.remove_rule_button,
                 decisions.ignore_rules),
                (self.acks_box, self.acks_table, self.acks_empty, self.remove_ack_button,
                 decisions.acknowledged)):
            for widget in (table, button):
                widget.setVisible(bool(rows))
            empty.setVisible(not rows)
            self._layout.setStretchFactor(box, 1 if rows else 0)
        self._layout.setStretch(self._layout.count() - 2,
                                0 if decisions.ignore_rules or decisions.acknowledged else 1)
        self._update_buttons()

    def show_problem(self, text: str) -> None:
        self.status.setText(text)

    def _fill(self, table: QTableWidget,
              rows: list[tuple[tuple[tuple[str, bool], ...], str, object]]) -> None:
        """Rows of (cells, sentence for the tooltip, value); each cell is (text, whether
        the words are portwatch's own, such as "any program", shown in italics)."""
        chosen = set(self._selected(table))
        values = [value for _cells, _sentence, value in rows]
        self._values[table.objectName()] = values
        table.clearSelection()
        table.setRowCount(len(rows))
        for number, (cells, sentence, value) in enumerate(rows):
            tip = plain_tooltip(sentence)
            for column, (text, ours) in enumerate(cells):
                item = QTableWidgetItem(text)
                if ours:
                    _placeholder(item)
                item.setToolTip(tip)
                table.setItem(number, column, item)
            if value in chosen:
                table.selectRow(number)

    def _selected(self, table: QTableWidget) -> list[object]:
        """The values of the selected rows, in table order (the Python values themselves:
        they never pass through Qt's variants)."""
        values = self._values.get(table.objectName(), [])
        rows = sorted(index.row() for index in table.selectionModel().selectedRows())
        return [values[row] for row in rows if row < len(values)]

    def selected_rules(self) -> list[IgnoreRule]:
        return [item for item in self._selected(self.rules_table)
                if isinstance(item, IgnoreRule)]

    def selected_acknowledged(self) -> list[ListenerIdentity]:
        return [item for item in self._selected(self.acks_table)
                if isinstance(item, ListenerIdentity)]

    def _remove_rules(self) -> None:
        for rule in self.selected_rules():
            self.remove_rule_requested.emit(rule)
        self.status.setText("Removing…")

    def _remove_acks(self) -> None:
        for item in self.selected_acknowledged():
            self.unacknowledge_requested.emit(item)
        self.status.setText("Removing…")

    def _update_buttons(self) -> None:
        self.remove_rule_button.setEnabled(bool(self.rules_table.selectedItems()))
        self.remove_ack_button.setEnabled(bool(self.acks_table.selectedItems()))
