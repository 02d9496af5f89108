"""The two dialogs of the user's alert decisions: "Ignore…" makes one ignore rule from a listener,
and Tools > Alert rules lists every ignore rule and acknowledged listener, each removable.

Both only show and ask: the rules live in the worker's thread (rules_editor.py carries the
requests there and the `Decisions` back). Process names and paths come from other programs:
labels are Qt.PlainText, table cells and combo items are plain text by nature, tooltips go
through plain_tooltip().
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from portwatch.core.alerts.decisions import (
    Decisions,
    IgnoreScope,
    describe_identity,
    describe_rule,
    make_rule,
    ports_text,
    program_choices,
    program_text,
    proto_text,
)
from portwatch.core.model import AnnotatedListener, IgnoreRule, ListenerIdentity, Proto
from portwatch.core.text import visible
from portwatch.gui.style.plain import plain_label, plain_tooltip

PROGRAM_LIMIT = 70  # characters of a program shown in a combo box


def _muted(label: QLabel) -> QLabel:
    """A wrapped label in the palette's secondary text colour (readable, unlike disabled)."""
    label.setWordWrap(True)
    palette = label.palette()
    palette.setColor(QPalette.ColorRole.WindowText,
                     palette.color(QPalette.ColorRole.PlaceholderText))
    label.setPalette(palette)
    return label


def _placeholder(item: QTableWidgetItem) -> QTableWidgetItem:
    """Words portwatch put in a cell ("any program"), told apart from a program's name."""
    font = item.font()
    font.setItalic(True)
    item.setFont(font)
    return item


class IgnoreDialog(QDialog):
    """Make an ignore rule from one listener: its program (by name or executable), its port, a
    range of ports, or its program on its port; TCP, UDP or both. The sentence under the
    choices says what the rule will do. `rule()` is the result after accept."""

    def __init__(self, row: AnnotatedListener, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Ignore alerts")
        self.setObjectName("ignoreDialog")
        sock = row.listener
        self.listener = sock
        proc = sock.process
        who = (f"{visible(proc.name, PROGRAM_LIMIT)} (PID {proc.pid})" if proc
               else "A program portwatch cannot see")
        self.about = plain_label(f"{who} listens on {sock.proto.value.upper()} {sock.endpoint}"
                                 f" ({sock.exposure.label}).", self)
        self.about.setObjectName("ignoreAbout")
        self.about.setWordWrap(True)

        self.scopes = QButtonGroup(self)
        self.program_port = QRadioButton(f"This program on this port ({sock.port})", self)
        self.program_any = QRadioButton("This program on any port", self)
        self.port_any = QRadioButton(f"Any program on port {sock.port}", self)
        self.range_any = QRadioButton("Any program on the ports", self)
        for scope, button in ((IgnoreScope.PROGRAM_PORT, self.program_port),
                              (IgnoreScope.PROGRAM, self.program_any),
                              (IgnoreScope.PORT, self.port_any),
                              (IgnoreScope.RANGE, self.range_any)):
            button.setProperty("scope", scope.value)
            self.scopes.addButton(button)
        self.port_from = self._port_box(sock.port, "ignoreFrom")
        self.port_to = self._port_box(min(sock.port + 99, 65535), "ignoreTo")

        self.program = QComboBox(self)
        self.program.setObjectName("ignoreProgram")
        # Kept here, not as item data: a name that is not UTF-8 must reach the rule as is.
        self._programs = program_choices(sock)
        for choice in self._programs:
            kind = "executable" if proc and choice == proc.exe and choice != proc.name else "name"
            self.program.addItem(f"{visible(choice, PROGRAM_LIMIT)}  ({kind})")
            self.program.setItemData(self.program.count() - 1,
                                     plain_tooltip(visible(choice)), Qt.ItemDataRole.ToolTipRole)
        self.program.setToolTip("A rule on the name covers every program of that name; one on"
                                " the executable covers only that file")
        self.proto = QComboBox(self)
        self.proto.setObjectName("ignoreProto")
        self._protos: list[Proto | None] = [Proto.TCP, Proto.UDP, None]
        for value in self._protos:
            self.proto.addItem(proto_text(value))
        self.proto.setCurrentIndex(self._protos.index(sock.proto))

        choices = QGroupBox("Never alert for", self)
        grid = QGridLayout(choices)
        grid.setColumnStretch(4, 1)
        grid.addWidget(self.program_port, 0, 0, 1, 5)
        grid.addWidget(self.program_any, 1, 0, 1, 5)
        grid.addWidget(self.port_any, 2, 0, 1, 5)
        grid.addWidget(self.range_any, 3, 0)
        grid.addWidget(self.port_from, 3, 1)
        grid.addWidget(QLabel("to", self), 3, 2)
        grid.addWidget(self.port_to, 3, 3)
        form = QGridLayout()
        form.setColumnStretch(1, 1)
        program_label = QLabel("&Program:", self)
        program_label.setBuddy(self.program)
        proto_label = QLabel("P&rotocol:", self)
        proto_label.setBuddy(self.proto)
        form.addWidget(program_label, 0, 0, Qt.AlignmentFlag.AlignRight)
        form.addWidget(self.program, 0, 1)
        form.addWidget(proto_label, 1, 0, Qt.AlignmentFlag.AlignRight)
        form.addWidget(self.proto, 1, 1, Qt.AlignmentFlag.AlignLeft)

        self.sentence = plain_label("", self)
        self.sentence.setObjectName("ignoreSentence")
        self.sentence.setWordWrap(True)
        font = self.sentence.font()
        font.setBold(True)
        self.sentence.setFont(font)
        self.hint = _muted(plain_label(
            "The rule is remembered across restarts. Tools > Alert rules… lists the rules and"
            " removes them.", self))
        if proc is None:
            self.hint.setText("The owner of this socket is hidden, so a rule can only name"
                              " ports. " + self.hint.text())

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel, self)
        self.ignore_button = self.buttons.addButton("Ignore",
                                                    QDialogButtonBox.ButtonRole.AcceptRole)
        self.ignore_button.setDefault(True)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(self.about)
        layout.addWidget(choices)
        layout.addLayout(form)
        layout.addWidget(self.sentence)
        layout.addWidget(self.hint)
        layout.addWidget(self.buttons)

        has_program = self.program.count() > 0
        for button in (self.program_port, self.program_any):
            button.setEnabled(has_program)
        (self.program_port if has_program else self.port_any).setChecked(True)
        self.scopes.buttonToggled.connect(self._update)
        self.program.currentIndexChanged.connect(self._update)
        self.proto.currentIndexChanged.connect(self._update)
        self.port_from.valueChanged.connect(self._update)
        self.port_to.valueChanged.connect(self._update)
        self._update()
        self.setMinimumWidth(460)

    def _port_box(self, value: int, name: str) -> QSpinBox:
        box = QSpinBox(self)
        box.setObjectName(name)
        box.setRange(1, 65535)
        box.setValue(max(value, 1))
        return box

    def scope(self) -> IgnoreScope:
        button = self.scopes.checkedButton()
        return IgnoreScope(button.property("scope")) if button else IgnoreScope.PORT

    def set_scope(self, scope: IgnoreScope) -> None:
        for button in self.scopes.buttons():
            if button.property("scope") == scope.value:
                button.setChecked(True)

    def rule(self) -> IgnoreRule:
        """The rule the controls describe now."""
        scope = self.scope()
        port = self.listener.port
        if scope is IgnoreScope.RANGE:
            low, high = self.port_from.value(), self.port_to.value()
        else:
            low = high = port
        index = self.program.currentIndex()
        program = self._programs[index] if 0 <= index < len(self._programs) else None
        return make_rule(scope, program=program, port_from=low, port_to=high,
                         proto=self._protos[max(self.proto.currentIndex(), 0)])

    def _update(self, *_args: object) -> None:
        scope = self.scope()
        self.program.setEnabled(scope in (IgnoreScope.PROGRAM, IgnoreScope.PROGRAM_PORT))
        for box in (self.port_from, self.port_to):
            box.setEnabled(scope is IgnoreScope.RANGE)
        self.sentence.setText(describe_rule(self.rule()))


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
        self.rules_empty = _muted(plain_label(
            "No ignore rules. Make one with Ignore… on an alert, under the details of a"
            " listener or in the table's right-click menu.", self))
        self.acks_empty = _muted(plain_label(
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
