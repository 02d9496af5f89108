"""Tools > Look up a port: what the catalog knows about any port/proto, without scanning
(the same knowledge as `portwatch lookup`)."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QSpinBox,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from portwatch.core.model import Proto
from portwatch.gui.plain import esc
from portwatch.gui.views import report


class LookupDialog(QDialog):
    """A port spin box and a protocol choice; the entry shows in a read-only view as they
    change. `catalog` needs `lookup(port, proto) -> CatalogEntry` (None: no catalog)."""

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
        self.view = QTextBrowser(self)
        self.view.setObjectName("lookupText")
        self.view.setOpenExternalLinks(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)

        row = QHBoxLayout()
        port_label = QLabel("&Port:", self)
        port_label.setBuddy(self.port)
        row.addWidget(port_label)
        row.addWidget(self.port)
        row.addWidget(self.proto)
        row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.view, 1)
        layout.addWidget(buttons)

        self.port.valueChanged.connect(self.refresh)
        self.proto.currentIndexChanged.connect(self.refresh)
        self.refresh()

    def show_port(self, port: int, proto: Proto | str) -> None:
        self.proto.setCurrentIndex(self.proto.findData(Proto(proto)))
        self.port.setValue(port)
        self.refresh()

    def refresh(self, *_args: object) -> None:
        port = self.port.value()
        proto = self.proto.currentData()
        if self._catalog is None:
            self.view.setHtml(f"<p>{esc('The port catalog could not be loaded.')}</p>")
            return
        try:
            entry = self._catalog.lookup(port, proto)  # type: ignore[attr-defined]
        except ValueError as exc:
            self.view.setHtml(f"<p>{esc(exc)}</p>")
            return
        self.view.setHtml(report.to_html(report.entry_report(entry)))
