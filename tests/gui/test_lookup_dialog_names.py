"""Tools > Look up a port accepts a service or software name, as `portwatch lookup` does."""

from __future__ import annotations

from PySide6.QtCore import Qt

from portwatch.core.catalog import load_catalog
from portwatch.gui.lookup_dialog import LookupDialog


def test_a_name_typed_into_the_dialog_shows_every_port_it_stands_for(qtbot):
    dialog = LookupDialog(load_catalog(None))
    qtbot.addWidget(dialog)
    qtbot.keyClicks(dialog.name, "redis")
    text = dialog.view.toPlainText()
    assert "redis: 6379/tcp" in text and "Port 6379/tcp" in text
    dialog.name.clear()
    qtbot.keyClicks(dialog.name, "devpi")
    assert "Port 3141/tcp" in dialog.view.toPlainText()
    dialog.name.clear()
    qtbot.keyClicks(dialog.name, "pwtest-nothing")
    assert "No port is known by the name" in dialog.view.toPlainText()
    dialog.port.setFocus()
    qtbot.keyClick(dialog.port, Qt.Key.Key_Up)  # choosing a number again shows the number
    assert dialog.name.text() == ""
    assert f"Port {dialog.port.value()}/" in dialog.view.toPlainText()
