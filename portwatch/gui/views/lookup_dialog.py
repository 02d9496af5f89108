"""Tools > Look up a port: what the catalog knows about any port/proto, or about the ports a
service or software name stands for (redis, devpi), without scanning (the same knowledge as
`portwatch lookup`)."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from portwatch.core.model import Proto
from portwatch.gui.style.plain import esc
from portwatch.gui.views import report


class LookupDialog(QDialog):
    """A port spin box and a protocol choice, or a name; the entries show in a read-only view
    as they change. `catalog` needs `lookup(port, proto) -> CatalogEntry` and
    `ports_named(name)` (None: no catalog)."""

    def __init__(self, catalog: object | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Look up a port")
        self.resize(620, 520)
        self._catalog = catalog
        self.port = QSpinBox(self)
        self.port.setObjectName("lookupPort")
        self.port.setRange(0, 65535)
        self.port.setValue(22)
        self.proto = QComboBox(self)
        self.proto.setObjectName("lookupProto")
        for proto in Proto:
            self.proto.addItem(proto.value.upper(), proto)
        self.name = QLineEdit(self)
        self.name.setObjectName("lookupName")
        self.name.setPlaceholderText("redis, devpi, ssh…")
        self.name.setClearButtonEnabled(True)
        self.name.setAccessibleName("Service or software name")
        self.view = QTextBrowser(self)
        self.view.setObjectName("lookupText")
        self.view.setAccessibleName("What the catalog knows")
        self.view.setOpenExternalLinks(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)

        row = QHBoxLayout()
        port_label = QLabel("&Port:", self)
        port_label.setBuddy(self.port)
        row.addWidget(port_label)
        row.addWidget(self.port)
        row.addWidget(self.proto)
        name_label = QLabel("or &name:", self)
        name_label.setBuddy(self.name)
        row.addWidget(name_label)
        row.addWidget(self.name, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.view, 1)
        layout.addWidget(buttons)

        self.port.valueChanged.connect(self._by_number)
        self.proto.currentIndexChanged.connect(self._by_number)
        self.name.textChanged.connect(self.refresh)
        self.refresh()

    def show_port(self, port: int, proto: Proto | str) -> None:
        self.proto.setCurrentIndex(self.proto.findData(Proto(proto)))
        self.port.setValue(port)
        self._by_number()

    def _by_number(self, *_args: object) -> None:
        self.name.clear()  # a number chosen: it is what is shown
        self.refresh()

    def refresh(self, *_args: object) -> None:
        port = self.port.value()
        proto = self.proto.currentData()
        if self._catalog is None:
            self.view.setHtml(f"<p>{esc('The port catalog could not be loaded.')}</p>")
            return
        name = self.name.text().strip()
        if name:
            self._show_name(name)
            return
        try:
            entry = self._catalog.lookup(port, proto)  # type: ignore[attr-defined]
        except ValueError as exc:
            self.view.setHtml(f"<p>{esc(exc)}</p>")
            return
        self.view.setHtml(report.to_html(report.entry_report(entry)))

    def _show_name(self, name: str) -> None:
        catalog: Any = self._catalog
        places = catalog.ports_named(name)
        if not places:
            self.view.setHtml("<p>" + esc(f"No port is known by the name “{name}”: it is"
                                          " neither an IANA service name nor software the"
                                          " catalog knows.") + "</p>")
            return
        listed = ", ".join(f"{port}/{proto.value}" for port, proto in places)
        parts = [f"<p>{esc(f'{name}: {listed}')}</p>"]
        parts += [report.to_html(report.entry_report(catalog.lookup(port, proto)))
                  for port, proto in places]
        self.view.setHtml("<hr>".join(parts))
