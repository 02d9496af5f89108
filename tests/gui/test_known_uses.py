"""The "Known uses" column names the software the listening program matches (devpi-server on
3141), not every product that ever used the port; the tooltip and the details pane keep the
others, after it."""

from __future__ import annotations

import pytest
from gui_rows import listener
from PySide6.QtGui import QTextDocument

from portwatch.core.knowledge.catalog import load_catalog
from portwatch.core.model import Proto, Snapshot
from portwatch.core.monitor import Monitor
from portwatch.gui.models.listener_model import SORT_ROLE, Column, ListenerModel
from portwatch.gui.views.details_pane import DetailsPane

TOOLTIP = 3  # Qt.ItemDataRole.ToolTipRole


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def software_on_3141(catalog) -> list[str]:
    return [use.software for use in catalog.lookup(3141, Proto.TCP).uses]


def model_with(catalog, *rows):
    """A model after one real poll of `rows`, annotated by the real catalog."""
    model = ListenerModel()
    monitor = Monitor(lambda: Snapshot(1_700_000_000.0, tuple(rows)), catalog)
    model.apply(monitor.poll())
    return model


def plain(rich: str) -> str:
    doc = QTextDocument()
    doc.setHtml(rich)
    return doc.toPlainText()


def test_a_matching_program_shows_only_its_use_and_the_tooltip_the_rest(qtbot, catalog):
    names = software_on_3141(catalog)
    assert "devpi-server" in names and len(names) > 1, "the catalog changed: adapt the test"
    # how a packaged Python script runs: the interpreter is the executable, the script the
    # program (the process name comes from the script)
    devpi = listener(3141, name="devpi-server",
                     cmdline=("/usr/bin/python3.11", "/usr/bin/devpi-server"),
                     exe="/usr/bin/python3.11")
    model = model_with(catalog, devpi)
    assert model.item_at(0).likely_uses, "devpi-server no longer matches its use"
    assert model.index(0, Column.USES).data() == "devpi-server"
    tip = plain(model.index(0, Column.USES).data(TOOLTIP))  # ToolTipRole
    assert tip.index("Matches the listening program") < tip.index("devpi")
    for other in names:
        if other != "devpi-server":
            assert other in tip
            assert tip.index("devpi") < tip.index(other)


def test_an_unknown_program_shows_every_known_use(qtbot, catalog):
    names = software_on_3141(catalog)
    model = model_with(catalog, listener(3141, name="mystery", cmdline=("mystery",),
                                                exe="/opt/mystery"))
    assert not model.item_at(0).likely_uses
    assert model.index(0, Column.USES).data() == ", ".join(dict.fromkeys(names))
    tip = plain(model.index(0, Column.USES).data(TOOLTIP))
    assert "Matches the listening program" not in tip
    assert all(name in tip for name in names)


def test_sorting_by_known_uses_follows_the_text_shown(qtbot, catalog):
    devpi = listener(3141, name="devpi-server", cmdline=("devpi-server",), pid=101,
                     exe="/usr/bin/devpi-server")
    other = listener(3141, address="127.0.0.2", name="mystery", cmdline=("mystery",), pid=102)
    model = model_with(catalog, devpi, other)
    for row in range(2):
        shown = model.index(row, Column.USES).data()
        assert model.index(row, Column.USES).data(SORT_ROLE) == shown.casefold()


def test_the_details_pane_lists_the_matching_use_first(qtbot, catalog):
    devpi = listener(3141, name="devpi-server", cmdline=("devpi-server",), exe=None)
    model = model_with(catalog, devpi)
    pane = DetailsPane()
    qtbot.addWidget(pane)
    pane.show_listener(model.item_at(0))
    text = pane.view.toPlainText()
    uses_at = text.index("Known uses")
    assert text.index("devpi-server", uses_at) < text.index("Finjan", uses_at)
    assert "matches the listening process" in text
    pane.shutdown()


def test_security_notes_about_other_software_come_last_and_grey(qtbot, catalog):
    """devpi on 3141: the Finjan CVE and MyDoom are context (grey); an unknown program there
    hears about MyDoom first."""
    from PySide6.QtCore import Qt

    devpi = listener(3141, name="devpi-server", cmdline=("devpi-server",), pid=101,
                     exe="/usr/bin/devpi-server")
    mystery = listener(3141, address="127.0.0.2", name="mystery", cmdline=("mystery",),
                       pid=102)
    model = model_with(catalog, devpi, mystery)
    rows = {model.item_at(row).listener.pid: row for row in range(2)}
    foreground = Qt.ItemDataRole.ForegroundRole
    devpi_cell = model.index(rows[101], Column.SECURITY)
    assert not model.item_at(rows[101]).assessment.applicable
    assert devpi_cell.data(foreground) is not None  # muted: nothing here is about devpi
    assert "does not count toward the risk" in plain(devpi_cell.data(TOOLTIP))
    mystery_item = model.item_at(rows[102])
    applicable = mystery_item.assessment.applicable
    assert applicable, "a program that is none of the port's uses hears its malware history"
    mystery_cell = model.index(rows[102], Column.SECURITY)
    assert mystery_cell.data().startswith(applicable[0].title)
    assert mystery_cell.data(foreground) is None
    # ascending is worst first (as for Risk): notes that count sort before context only
    assert mystery_cell.data(SORT_ROLE) < devpi_cell.data(SORT_ROLE)


def test_a_softwares_notes_show_on_another_port(qtbot, catalog):
    """Redis on 7777: the Security cell and the details pane name Redis's notes, which count."""
    redis = listener(7777, address="0.0.0.0", name="redis-server", cmdline=("redis-server",),
                     exe=None)  # no executable: the pane has no file to hash in the background
    model = model_with(catalog, redis)
    assert model.index(0, Column.USES).data() == "Redis"
    assert "Redis server, meant for trusted networks only" in model.index(
        0, Column.SECURITY).data()
    pane = DetailsPane()
    qtbot.addWidget(pane)
    pane.show_listener(model.item_at(0))
    text = pane.view.toPlainText()
    assert "Redis server, meant for trusted networks only" in text
    pane.shutdown()
