"""The Ignore… dialog: one ignore rule made from a listener — its program (by name or
executable) on its port or any port, any program on its port or a range of ports; TCP, UDP or
both — with a sentence saying what the rule will do.

It only shows and asks: the rules live in the worker's thread (rules_editor.py carries the
new rule there). Process names and paths come from other programs: labels are Qt.PlainText,
combo items are plain text by nature, tooltips go through plain_tooltip().
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QGroupBox,
    QLabel,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from portwatch.core.alerts.decisions import (
    IgnoreScope,
    describe_rule,
    make_rule,
    program_choices,
    proto_text,
)
from portwatch.core.model import AnnotatedListener, IgnoreRule, Proto
from portwatch.core.text import visible
from portwatch.gui.style.plain import muted, plain_label, plain_tooltip

PROGRAM_LIMIT = 70  # characters of a program shown in a combo box


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
        self.hint = muted(plain_label(
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
