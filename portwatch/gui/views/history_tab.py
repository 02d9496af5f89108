"""The History tab, built the first time it is needed.

The Listeners table (what a person opens portwatch for) must not wait for the history file to
be opened and read. This placeholder builds the HistoryView when the tab is first shown, or
when someone asks for its events (File > Export history…), and hands it each poll.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import Slot
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QVBoxLayout, QWidget

log = logging.getLogger(__name__)


class LazyHistoryTab(QWidget):
    def __init__(self, store_path: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._store_path = store_path
        self._view: Any = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)

    @property
    def built(self) -> bool:
        return self._view is not None

    def view(self) -> Any:
        """The HistoryView, built now if it was not yet."""
        if self._view is None:
            from portwatch.gui.views.history_view import HistoryView

            self._view = HistoryView(self._store_path, self)
            self.layout().addWidget(self._view)
            log.debug("History tab built")
        return self._view

    def showEvent(self, event: QShowEvent) -> None:
        self.view()
        super().showEvent(event)

    def visible_events(self) -> list:
        return self.view().visible_events()

    def refresh(self) -> None:
        """Take in the newest events when the tab is open; a hidden tab catches up when it
        is shown."""
        if self._view is not None and self._view.isVisible():
            self._view.refresh()

    @Slot(object)
    def after_poll(self, _result: object) -> None:
        """The worker's `polled`: that poll's events are in the file now. Connected to this
        QObject's slot, so it runs in the GUI thread (the reader's connection is that
        thread's)."""
        self.refresh()
